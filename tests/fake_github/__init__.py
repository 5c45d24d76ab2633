"""A deterministic, standard-library-only fake of GitHub's REST and GraphQL API.

Tests start it in-process (``FakeGitHub(...).start()`` serves on 127.0.0.1, port 0, from a
background thread); Airflow, browser tests, Celery workers and benchmarks run it standalone with
``python -m tests.fake_github --port 8765 --repos 5000 --seed 1`` (it prints its base URL first).

The world
---------
``repo_count`` ids are drawn across ``(0, max_id]``, one per equal-width stratum (sparse, sorted),
plus the named ``owners``' repositories. Everything about a repository derives from
``(seed, id)``: its name always ends in ``-<id in base 36>``, ``created_at`` grows with the id
(2008-01-01 to 2026-11-01, denser in recent years), nothing is later than 2026-11-01, so nothing
depends on the wall clock. Generated owners are ``quiet-otter42`` (User) or ``QuietOtterLabs42``
(Organization, every seventh); a named owner is an Organization when its login starts with an
upper-case letter or is in :data:`tests.fake_github.owners.KNOWN_ORGANIZATIONS` (``apache`` is,
``octocat`` is not). ``vanished_ratio`` of the listed ids answer 404 on detail endpoints (one in
five of those 451, DMCA) while still being listed. Object URLs point at the running fake.
``add_repositories(n)`` creates ``n`` repositories "now" (at 2026-11-01), with ids above every other:
listed, served and enriched like the rest (a census's next day), but not found by searches.
``latency_ms`` delays every API answer, ``graphql_latency_ms`` GraphQL ones instead (GitHub takes
about 150 ms for a REST answer and over a second for a ``nodes`` query of 100 repositories).

Endpoints
---------
``GET /repositories?since=``, ``/repositories/{id}``, ``/repos/{owner}/{name}``,
``/users/{login}/repos``, ``/orgs/{org}/repos`` (their ``Link`` headers point at
``/user/{id}/repos`` and ``/organizations/{id}/repos`` as GitHub's do), ``/search/repositories``,
``POST /graphql``, ``GET /rate_limit``, ``GET /app/installations`` and
``POST /app/installations/{id}/access_tokens`` (GitHub App
login: ``apps`` and ``installations`` name the Apps' public keys and installations, tokens expire
after ``installation_token_ttl_s``; see :mod:`tests.fake_github.apps`; standalone:
``--apps 31337=app.pem --installations 4242=31337``); control endpoints
``GET /_fake/stats`` (with ``lowest_remaining``, the least each budget had left: what a client's quota
reserve kept), ``POST /_fake/faults``, ``POST /_fake/reset_log`` (never counted, never logged).
Search's best match is ascending id; search excludes forks unless ``fork:true|only``.

Budgets
-------
Per token fingerprint (anonymous: per client IP) and resource: ``core`` (``rate_limit``/h, 60
anonymous), ``search`` (``search_rate_limit``/min, 10 anonymous), ``graphql`` (points/h, token
required, 1 point per query); an installation token spends its installation's budget. Every request
spends one unit except: ``GET /rate_limit``, 304 answers to a request with a token (an anonymous 304
counts, as on GitHub), 401s, injected faults and requests refused for an exhausted budget. An exhausted REST
budget answers ``faults.rate_limited_status`` (403 by default, or 429) with remaining 0; GraphQL
answers HTTP 200 with ``errors[0].type == "RATE_LIMITED"`` (``faults.graphql_rate_limited_status``).

GraphQL ``Repository`` fields and the REST field each equals
------------------------------------------------------------
Every field below is returned whatever the selection set asks for; a query selecting another
``Repository`` field is refused (``undefinedField``, naming where to add it), never answered without it.

==========================================  ===============================================
GraphQL                                     REST (same id)
==========================================  ===============================================
databaseId                                  id
id                                          node_id
name                                        name
nameWithOwner                               full_name
owner{__typename, login, id, databaseId}    owner{type, login, node_id, id}
description                                 description
homepageUrl                                 homepage (null and "" kept as they are)
url                                         html_url
primaryLanguage{name} | null                language
licenseInfo{spdxId, key, name} | null       license{spdx_id, key, name}
repositoryTopics{nodes{topic{name}}}        topics (reversed: REST's are sorted)
stargazerCount                              stargazers_count == watchers_count == watchers
forkCount                                   forks_count == forks == network_count
issues{totalCount}                          open_issues_count == open_issues (here: no PRs)
pullRequests{totalCount}                    0 (no PRs here)
watchers{totalCount}                        subscribers_count (GitHub's "watchers" are subscribers)
diskUsage                                   size (KB)
defaultBranchRef{name}                      default_branch (never null here, even when empty)
isFork / isArchived / isDisabled            fork / archived / disabled
isTemplate / isPrivate                      is_template / private
visibility                                  visibility upper-cased ("PUBLIC")
createdAt / updatedAt / pushedAt            created_at / updated_at / pushed_at (same strings)
==========================================  ===============================================

GitHub Enterprise Server
------------------------
``enterprise_version="3.9.0"`` serves as GHES does: REST under ``/api/v3`` (``base_url`` ends with it, and
so do every object URL and ``Link``), GraphQL at ``/api/graphql``, ``X-GitHub-Enterprise-Version`` on every
API answer, an HTML 404 for any other path. ``rate_limiting=False`` is GHES with rate limiting disabled:
``GET /rate_limit`` answers 404 "Rate limiting is not enabled.", no ``x-ratelimit-*`` headers, nothing
refused. ``graphql_missing_fields`` are ``Repository`` fields an older GHES lacks (HTTP 200,
``undefinedField`` errors, no ``data``). ``anonymous_access=False`` is private mode: 401 "Must
authenticate to access this API." to any request without a token. ``start(ssl_context=...)`` serves https (see
:mod:`tests.fixtures.tls` for a CA made in the test).

Faults and hostile data: see :mod:`tests.fake_github.faults` and :mod:`tests.fake_github.hostile`.
"""

from __future__ import annotations

from tests.fake_github.faults import Faults
from tests.fake_github.hostile import GONE, LOAD, QUARANTINE, sanitise_text
from tests.fake_github.owners import KNOWN_ORGANIZATIONS, Owner
from tests.fake_github.server import FakeGitHub, RecordedRequest

__all__ = [
    "GONE",
    "KNOWN_ORGANIZATIONS",
    "LOAD",
    "QUARANTINE",
    "FakeGitHub",
    "Faults",
    "Owner",
    "RecordedRequest",
    "sanitise_text",
]
