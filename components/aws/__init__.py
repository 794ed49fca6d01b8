"""AWS: VPC, EKS cluster, managed node groups, load balancer, storage and autoscaling, handed on as one `Platform`."""
