"""The fake push service, for the monitoring tests' push."""

from tests.push.conftest import push_service

__all__ = ["push_service"]
