"""The CrossGuard policy pack (README, Policy pack): rules.py holds the logic, pack.py wires it for pulumi-policy."""
