"""Build REST and GraphQL repository objects in GitHub's exact shapes and field order."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from tests.fake_github.derive import LICENSES, Facts, legacy_node_id, topics_from_mask
from tests.fake_github.owners import Owner

HTML_ROOT = "https://github.com"
AVATAR_ROOT = "https://avatars.githubusercontent.com/u"

# (field, suffix after the repository's API url) in the order GitHub serialises them.
_REPO_URL_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("forks_url", "/forks"),
    ("keys_url", "/keys{/key_id}"),
    ("collaborators_url", "/collaborators{/collaborator}"),
    ("teams_url", "/teams"),
    ("hooks_url", "/hooks"),
    ("issue_events_url", "/issues/events{/number}"),
    ("events_url", "/events"),
    ("assignees_url", "/assignees{/user}"),
    ("branches_url", "/branches{/branch}"),
    ("tags_url", "/tags"),
    ("blobs_url", "/git/blobs{/sha}"),
    ("git_tags_url", "/git/tags{/sha}"),
    ("git_refs_url", "/git/refs{/sha}"),
    ("trees_url", "/git/trees{/sha}"),
    ("statuses_url", "/statuses/{sha}"),
    ("languages_url", "/languages"),
    ("stargazers_url", "/stargazers"),
    ("contributors_url", "/contributors"),
    ("subscribers_url", "/subscribers"),
    ("subscription_url", "/subscription"),
    ("commits_url", "/commits{/sha}"),
    ("git_commits_url", "/git/commits{/sha}"),
    ("comments_url", "/comments{/number}"),
    ("issue_comment_url", "/issues/comments{/number}"),
    ("contents_url", "/contents/{+path}"),
    ("compare_url", "/compare/{base}...{head}"),
    ("merges_url", "/merges"),
    ("archive_url", "/{archive_format}{/ref}"),
    ("downloads_url", "/downloads"),
    ("issues_url", "/issues{/number}"),
    ("pulls_url", "/pulls{/number}"),
    ("milestones_url", "/milestones{/number}"),
    ("notifications_url", "/notifications{?since,all,participating}"),
    ("labels_url", "/labels{/name}"),
    ("releases_url", "/releases{/id}"),
    ("deployments_url", "/deployments"),
)
_OWNER_URL_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("followers_url", "/followers"),
    ("following_url", "/following{/other_user}"),
    ("gists_url", "/gists{/gist_id}"),
    ("starred_url", "/starred{/owner}{/repo}"),
    ("subscriptions_url", "/subscriptions"),
    ("organizations_url", "/orgs"),
    ("repos_url", "/repos"),
    ("events_url", "/events{/privacy}"),
    ("received_events_url", "/received_events"),
)
# The fields of a /repositories listing item; anything else is only in the full object.
MINIMAL_FIELDS: tuple[str, ...] = (
    "id",
    "node_id",
    "name",
    "full_name",
    "private",
    "owner",
    "html_url",
    "description",
    "fork",
    "url",
    *(field for field, _ in _REPO_URL_TEMPLATES),
)


# One JSON encoder for every body: compact like GitHub's, UTF-8 text rather than \\u escapes.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_MINIMAL_SET = frozenset(MINIMAL_FIELDS)
_URL_MARK = "\x00"
_URL_BLOCK = ",".join(f'"{field}":"{_URL_MARK}{suffix}"' for field, suffix in _REPO_URL_TEMPLATES)


def to_json(value: Any) -> str:
    """Compact JSON text of any value."""
    return _ENCODER.encode(value)


def encode_body(text: str) -> bytes:
    """UTF-8 bytes of JSON text; lone surrogates (hostile data) become ``\\udXXX`` escapes like GitHub's."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub(lambda match: f"\\u{ord(match.group()):04x}", text).encode("utf-8")


def iso(epoch_seconds: int | None) -> str | None:
    """ISO-8601 UTC with a ``Z``, GitHub's timestamp format."""
    if epoch_seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def owner_object(owner: Owner, api_root: str) -> dict[str, Any]:
    """The ``owner`` object of a repository (a simple user)."""
    user_url = f"{api_root}/users/{owner.login}"
    obj: dict[str, Any] = {
        "login": owner.login,
        "id": owner.id,
        "node_id": legacy_node_id(owner.type, owner.id),
        "avatar_url": f"{AVATAR_ROOT}/{owner.id}?v=4",
        "gravatar_id": "",
        "url": user_url,
        "html_url": f"{HTML_ROOT}/{owner.login}",
    }
    for field, suffix in _OWNER_URL_TEMPLATES:
        obj[field] = user_url + suffix
    obj["type"] = owner.type
    obj["user_view_type"] = "public"
    obj["site_admin"] = False
    return obj


def minimal_object(
    *, repo_id: int, name: str, owner: dict[str, Any], description: str | None, fork: bool, api_root: str
) -> dict[str, Any]:
    """A repository as the ``/repositories`` listing returns it: identity and URLs, no metadata."""
    full_name = f"{owner['login']}/{name}"
    repo_url = f"{api_root}/repos/{full_name}"
    obj: dict[str, Any] = {
        "id": repo_id,
        "node_id": legacy_node_id("Repository", repo_id),
        "name": name,
        "full_name": full_name,
        "private": False,
        "owner": owner,
        "html_url": f"{HTML_ROOT}/{full_name}",
        "description": description,
        "fork": fork,
        "url": repo_url,
    }
    for field, suffix in _REPO_URL_TEMPLATES:
        obj[field] = repo_url + suffix
    return obj


def minimal_json(
    *,
    repo_id: int,
    name: str,
    owner_login: str,
    owner_json: str,
    description: str | None,
    fork: bool,
    api_root: str,
) -> str:
    """JSON text of a minimal object, templated so a listing page costs microseconds per item.

    Equal to ``to_json(minimal_object(...))`` for the same values; the unit tests hold the two to it.
    """
    full_name = to_json(f"{owner_login}/{name}")[1:-1]
    repo_url = f"{to_json(api_root)[1:-1]}/repos/{full_name}"
    return (
        f'{{"id":{repo_id},"node_id":"{legacy_node_id("Repository", repo_id)}","name":{to_json(name)},'
        f'"full_name":"{full_name}","private":false,"owner":{owner_json},'
        f'"html_url":"{HTML_ROOT}/{full_name}","description":{to_json(description)},'
        f'"fork":{"true" if fork else "false"},"url":"{repo_url}",'
        f"{_URL_BLOCK.replace(_URL_MARK, repo_url)}}}"
    )


def full_json(full: dict[str, Any], minimal_text: str) -> str:
    """JSON text of a full object whose minimal fields are exactly those of ``minimal_text``."""
    rest = to_json({field: value for field, value in full.items() if field not in _MINIMAL_SET})
    return f"{minimal_text[:-1]},{rest[1:]}"


def license_object(license_index: int | None, api_root: str) -> dict[str, Any] | None:
    """The ``license`` object, null when GitHub detected none."""
    if license_index is None:
        return None
    key, name, spdx_id, number = LICENSES[license_index]
    return {
        "key": key,
        "name": name,
        "spdx_id": spdx_id,
        "url": None if key == "other" else f"{api_root}/licenses/{key}",
        "node_id": legacy_node_id("License", number),
    }


def full_object(
    *,
    minimal: dict[str, Any],
    facts: Facts,
    language: str | None,
    homepage: str | None,
    default_branch: str,
    flags: int,
    owner_type: str,
    api_root: str,
) -> dict[str, Any]:
    """A repository as ``GET /repos/{owner}/{repo}`` returns it, built on its minimal object."""
    full_name = minimal["full_name"]
    obj = dict(minimal)
    obj["created_at"] = iso(facts.created)
    obj["updated_at"] = iso(facts.updated)
    obj["pushed_at"] = iso(facts.pushed)
    obj["git_url"] = f"git://github.com/{full_name}.git"
    obj["ssh_url"] = f"git@github.com:{full_name}.git"
    obj["clone_url"] = f"{HTML_ROOT}/{full_name}.git"
    obj["svn_url"] = f"{HTML_ROOT}/{full_name}"
    obj["homepage"] = homepage
    obj["size"] = facts.size
    obj["stargazers_count"] = facts.stars
    obj["watchers_count"] = facts.stars  # GitHub's legacy name for stars, not subscribers
    obj["language"] = language
    obj["has_issues"] = flags >> 16 & 0xF != 0
    obj["has_projects"] = flags >> 20 & 0x7 != 0
    obj["has_downloads"] = True
    obj["has_wiki"] = flags >> 23 & 0x7 != 0
    obj["has_pages"] = flags >> 26 & 0xF == 0
    obj["has_discussions"] = flags >> 30 & 0xF == 0
    obj["forks_count"] = facts.forks
    obj["mirror_url"] = None
    obj["archived"] = facts.archived
    obj["disabled"] = facts.disabled
    obj["open_issues_count"] = facts.open_issues
    obj["license"] = license_object(facts.license_index, api_root)
    obj["allow_forking"] = flags >> 34 & 0x3F != 0
    obj["is_template"] = facts.is_template
    obj["web_commit_signoff_required"] = flags >> 40 & 0x3F == 0
    # GitHub's REST answers list topics sorted.
    obj["topics"] = sorted(topics_from_mask(facts.topic_mask))
    obj["visibility"] = "public"
    obj["forks"] = facts.forks
    obj["open_issues"] = facts.open_issues
    obj["watchers"] = facts.stars
    obj["default_branch"] = default_branch
    obj["temp_clone_token"] = None
    # A field GitHub added recently; clients must tolerate fields they do not know.
    obj["custom_properties"] = {}
    if owner_type == "Organization":
        obj["organization"] = minimal["owner"]
    obj["network_count"] = facts.forks
    obj["subscribers_count"] = facts.subscribers
    return obj


def graphql_repository(rest: dict[str, Any]) -> dict[str, Any]:
    """The GraphQL ``Repository`` node equal to a REST full object (mapping in the package docstring)."""
    owner = rest["owner"]
    license_info = rest["license"]
    return {
        "__typename": "Repository",
        "databaseId": rest["id"],
        "id": rest["node_id"],
        "name": rest["name"],
        "nameWithOwner": rest["full_name"],
        "owner": {
            "__typename": owner["type"],
            "login": owner["login"],
            "id": owner["node_id"],
            "databaseId": owner["id"],
            "url": owner["html_url"],
        },
        "description": rest["description"],
        "homepageUrl": rest["homepage"],
        "url": rest["html_url"],
        "primaryLanguage": None if rest["language"] is None else {"name": rest["language"]},
        "licenseInfo": None
        if license_info is None
        else {
            "key": license_info["key"],
            "name": license_info["name"],
            "spdxId": license_info["spdx_id"],
        },
        "repositoryTopics": {
            "totalCount": len(rest["topics"]),
            # In another order than REST's, as GraphQL's need not be sorted: the warehouse must not mind.
            "nodes": [{"topic": {"name": topic}} for topic in reversed(rest["topics"])],
        },
        "stargazerCount": rest["stargazers_count"],
        "forkCount": rest["forks_count"],
        "issues": {"totalCount": rest["open_issues_count"]},
        "pullRequests": {"totalCount": 0},
        "watchers": {"totalCount": rest["subscribers_count"]},
        "diskUsage": rest["size"],
        "defaultBranchRef": {"name": rest["default_branch"]},
        "isFork": rest["fork"],
        "isArchived": rest["archived"],
        "isDisabled": rest["disabled"],
        "isTemplate": rest["is_template"],
        "isPrivate": rest["private"],
        "visibility": rest["visibility"].upper(),
        "createdAt": rest["created_at"],
        "updatedAt": rest["updated_at"],
        "pushedAt": rest["pushed_at"],
    }
