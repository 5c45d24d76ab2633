"""Run the fake standalone: ``python -m tests.fake_github --port 8765 --repos 5000 --seed 1``.

The first line on stdout is the base URL (flushed), so a parent process can read it and go.
Runs until SIGTERM or SIGINT. Tokens come from an environment variable, never from arguments,
so they do not show up in process listings.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from tests.fake_github.server import FakeGitHub


def _owners(text: str) -> dict[str, int]:
    """Parse ``apache=250,octocat=8``."""
    owners: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        login, _, number = item.partition("=")
        owners[login.strip()] = int(number)
    return owners


def _apps(text: str) -> dict[int, str]:
    """Parse ``31337=/path/app.pem``: each App's id and the PEM file of its key (public, or the private one)."""
    from cryptography.hazmat.primitives import serialization

    apps: dict[int, str] = {}
    for item in filter(None, text.split(",")):
        app_id, _, path = item.partition("=")
        pem = Path(path.strip()).read_bytes()
        if b"PRIVATE KEY" in pem:
            public = serialization.load_pem_private_key(pem, password=None).public_key()
            pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        apps[int(app_id)] = pem.decode()
    return apps


def _installations(text: str) -> dict[int, int]:
    """Parse ``4242=31337,4243=31337``: each installation's id and its App's."""
    return {int(i): int(a) for i, _, a in (item.partition("=") for item in text.split(",") if item)}


def _day_shares(text: str) -> dict[str, float]:
    """Parse ``2024-03-01=0.6,2024-03-02=0.1``."""
    return {day.strip(): float(share) for day, _, share in (item.partition("=") for item in text.split(",") if item)}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fake_github", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--repos", type=int, default=1000, help="repositories with generated owners")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-id", type=int, default=1_100_000_000)
    parser.add_argument("--vanished-ratio", type=float, default=0.0)
    parser.add_argument("--owners", type=_owners, default={}, help="named owners, e.g. apache=250,octocat=8")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--graphql-latency-ms", type=float, default=None, help="default: --latency-ms")
    parser.add_argument(
        "--dense-days",
        type=_day_shares,
        default={},
        help="share of the repositories created on a UTC day, e.g. 2024-03-01=0.6 (search slicing below a day)",
    )
    parser.add_argument("--rate-limit", type=int, default=5000, help="core requests per hour with a token")
    parser.add_argument("--search-rate-limit", type=int, default=30, help="search requests per minute")
    parser.add_argument("--graphql-rate-limit", type=int, default=5000, help="GraphQL points per hour")
    parser.add_argument(
        "--apps", type=_apps, default={}, help="GitHub Apps: id=PEM file of its key, e.g. 31337=app.pem"
    )
    parser.add_argument(
        "--installations", type=_installations, default={}, help="App installations: id=App id, e.g. 4242=31337"
    )
    parser.add_argument("--installation-token-ttl", type=float, default=3600.0, help="seconds a minted token lives")
    parser.add_argument(
        "--tokens-env",
        default=None,
        help="name of an environment variable holding comma-separated valid tokens (default: any token)",
    )
    parser.add_argument(
        "--enterprise-version",
        default=None,
        help="serve as a GitHub Enterprise Server of this version: the API under /api/v3, GraphQL at /api/graphql",
    )
    parser.add_argument(
        "--no-rate-limiting", action="store_true", help="rate limiting disabled, as a GitHub Enterprise Server allows"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start the fake, print its base URL, serve until terminated."""
    args = _arguments(argv)
    tokens = None
    if args.tokens_env:
        tokens = {token for token in os.environ.get(args.tokens_env, "").split(",") if token}
    fake = FakeGitHub(
        repo_count=args.repos,
        seed=args.seed,
        max_id=args.max_id,
        vanished_ratio=args.vanished_ratio,
        owners=args.owners,
        rate_limit=args.rate_limit,
        search_rate_limit=args.search_rate_limit,
        graphql_rate_limit=args.graphql_rate_limit,
        tokens=tokens,
        latency_ms=args.latency_ms,
        graphql_latency_ms=args.graphql_latency_ms,
        dense_days=args.dense_days,
        apps=args.apps,
        installations=args.installations,
        installation_token_ttl_s=args.installation_token_ttl,
        enterprise_version=args.enterprise_version,
        rate_limiting=not args.no_rate_limiting,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    base_url = fake.start(port=args.port, host=args.host)
    sys.stdout.write(base_url + "\n")
    sys.stdout.flush()
    try:
        stop.wait()
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
