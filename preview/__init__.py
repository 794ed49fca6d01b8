"""Offline preview: run the Pulumi program under the mock engine, record it, write what it would apply."""
