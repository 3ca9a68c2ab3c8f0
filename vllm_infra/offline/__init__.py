"""Offline tooling: run the stack program under Pulumi's mock runtime, redact, render, print."""
