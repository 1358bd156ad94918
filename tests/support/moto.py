"""moto in server mode on 127.0.0.1, for every test that needs an AWS API.

Import the fixture into a test module: ``from tests.support.moto import moto_server``.
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """Start moto's HTTP server on a free loopback port; yields its endpoint URL.

    Fake credentials and a region are put in the environment for the session (never real
    ones: the variables are overwritten), so boto3/botocore clients need only
    ``endpoint_url=moto_server``.
    """
    from moto.server import ThreadedMotoServer

    saved = {name: os.environ.get(name) for name in _FAKE_CREDENTIALS}
    os.environ.update(_FAKE_CREDENTIALS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
