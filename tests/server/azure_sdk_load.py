"""Run by .venv-azure's Python: load a bundle's YAML with the Azure ML SDK's own loaders (offline).

``python azure_sdk_load.py BUNDLE [--endpoint FILE]`` prints one JSON line with what the loaders read.
The loaders validate each file against Azure's schema (marshmallow) and resolve its local paths; an
invalid file raises, and the exit status is then 1 with the SDK's message on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from azure.ai.ml import load_environment, load_online_deployment, load_online_endpoint


def main() -> int:
    bundle = Path(sys.argv[1])
    endpoint_file = Path(sys.argv[3]) if sys.argv[2:3] == ["--endpoint"] else bundle / "endpoint.yml"
    try:
        endpoint = load_online_endpoint(source=endpoint_file)
        deployment = load_online_deployment(source=bundle / "deployment.yml")
        environment = load_environment(source=bundle / "environment" / "environment.yml")
    except Exception as exc:  # noqa: BLE001 - the SDK raises several types; the test reads the message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({
        "endpoint": {"name": endpoint.name, "auth_mode": endpoint.auth_mode},
        "deployment": {
            "name": deployment.name,
            "endpoint_name": deployment.endpoint_name,
            "model_path": str(Path(bundle, deployment.model.path).resolve()),
            "code": str(Path(bundle, deployment.code_configuration.code).resolve()),
            "scoring_script": deployment.code_configuration.scoring_script,
            "image": deployment.environment.image,
            "conda_file": deployment.environment.conda_file,
            "instance_type": deployment.instance_type,
            "instance_count": deployment.instance_count,
            "request_timeout_ms": deployment.request_settings.request_timeout_ms,
        },
        "environment": {"name": environment.name, "image": environment.image,
                        "conda_file": environment.conda_file},
    }, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
