"""Run the stack program: ``Pulumi.yaml`` points ``main`` at this directory."""

from vllm_infra.program import main

main()
