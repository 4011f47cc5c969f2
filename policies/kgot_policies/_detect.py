"""Finding secret-looking values in text: detect-secrets plus the platform's own patterns.

Returns only the *kind* of secret found, never the value, so no caller can
print it by accident.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.keyword import KeywordDetector
from detect_secrets.util.filetype import determine_file_type

# Public IPs are addresses, not credentials.
_SKIPPED_DETECTORS = frozenset({"IPPublicDetector"})

# Values that only point at a secret (or are obviously not one).
_REFERENCE = re.compile(
    r"""^(
        \$\(?\{?[A-Za-z_][A-Za-z0-9_.-]*\}?\)?     # $(VAR) ${VAR} $VAR
      | \{\{.*\}\}                                # templates
      | <[^>]*>                                   # <placeholder>
      | \*+ | x+ | changeme | redacted | none | null | true | false | yes | no
      | /[^\s]*                                   # a path (a *_FILE variable)
      | \d+(\.\d+)?[a-z]{0,2}                     # numbers, sizes, durations
      | (secret|env|file|vault)://.*              # references resolved elsewhere
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# The platform's own: a credential in a connection string (postgres, redis, amqp, http...).
_CONNECTION_STRING = re.compile(r"[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@[^\s]+", re.IGNORECASE)
# Variable names that say "the value is a secret".
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?"
    r"|WEBHOOK_?URL|DSN|AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY)",
    re.IGNORECASE,
)
# ...unless the name says it is only about the secret: where it is, how long it lives.
_NOT_SECRET_NAME = re.compile(
    r"[_.-](FILE|PATH|DIR|NAME|ENABLED|TTL|TIMEOUT|REF|TYPE|MODE|URL|ENDPOINT|HEADER|LENGTH)$",
    re.IGNORECASE,
)
_WEBHOOK = re.compile(r"WEBHOOK", re.IGNORECASE)
_FILE_SUFFIX = re.compile(r"[_.-](FILE|PATH)$", re.IGNORECASE)
# `key: value`, `key = value`, `"key": "value"` in a config file.
_ASSIGNMENT = re.compile(r"""^\s*-?\s*["']?([A-Za-z0-9_.-]+)["']?\s*[:=]\s*["']?([^"'\s#,]+)""")
_TOKEN = re.compile(r"[A-Za-z0-9+/=_-]{20,}")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_PREFIX = re.compile(r"(sha256|sha512|sha1|md5)[:=]$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _regex_detectors() -> tuple[RegexBasedDetector, ...]:
    classes: list[type[Any]] = list(get_mapping_from_secret_type_to_class().values())
    return tuple(
        cls()
        for cls in sorted(classes, key=lambda c: c.__name__)
        if issubclass(cls, RegexBasedDetector) and cls.__name__ not in _SKIPPED_DETECTORS
    )


def is_reference(value: str) -> bool:
    return bool(_REFERENCE.match(value.strip()))


def shannon_entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _high_entropy_tokens(text: str) -> bool:
    """A long random-looking token: mixed case and digits, entropy >= 4 bits a character.

    Digests and hashes (all hex, often after "sha256:") are left to the
    name-based check, since config legitimately carries them.
    """
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if _HEX.match(token) or _HASH_PREFIX.search(
            text[max(0, match.start() - 7) : match.start()]
        ):
            continue
        has_classes = (
            any(c.isdigit() for c in token)
            and any(c.isupper() for c in token)
            and any(c.islower() for c in token)
        )
        if has_classes and shannon_entropy(token) >= 4.0:
            return True
    return False


def find_secret_kinds(text: str, filename: str = "", name: str = "") -> list[str]:
    """The kinds of secret the text seems to hold (empty: nothing found).

    filename selects detect-secrets' keyword rules for the text's format (a
    ConfigMap key such as alertmanager.yml); name is the variable or key that
    holds the text, for the platform's name-based rule.
    """
    if not text or not isinstance(text, str):
        return []
    kinds: list[str] = []
    for detector in _regex_detectors():
        if any(True for _ in detector.analyze_string(text)):
            kinds.append(str(detector.secret_type))
    for match in _CONNECTION_STRING.finditer(text):
        if not is_reference(match.group(1)):
            kinds.append("Connection string with password")
            break
    if filename:
        regexes = _keyword_regexes(filename)
        keyword = KeywordDetector()
        for line in text.splitlines():
            found = [v for v in keyword.analyze_string(line, regexes) if not is_reference(v)]
            if found:
                kinds.append(str(KeywordDetector.secret_type))
                break
    stripped = text.strip()
    if name and "\n" not in stripped and _is_literal_secret(name, stripped):
        kinds.append(f"Literal value of secret-named {name}")
    if filename:
        for line in text.splitlines():
            assignment = _ASSIGNMENT.match(line)
            if assignment and _is_literal_secret(assignment.group(1), assignment.group(2)):
                kinds.append(f"Literal value of secret-named {assignment.group(1)}")
                break
    if _high_entropy_tokens(text):
        kinds.append("High entropy string")
    return sorted(set(kinds))


def is_secret_name(name: str) -> bool:
    if not SECRET_NAME.search(name) or _FILE_SUFFIX.search(name):
        return False
    return bool(_WEBHOOK.search(name)) or not _NOT_SECRET_NAME.search(name)


def _is_literal_secret(name: str, value: str) -> bool:
    return is_secret_name(name) and len(value) >= 4 and not is_reference(value)


def _keyword_regexes(filename: str) -> dict[re.Pattern[str], int]:
    from detect_secrets.plugins.keyword import (
        QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
        REGEX_BY_FILETYPE,
    )

    regexes: dict[re.Pattern[str], int] = REGEX_BY_FILETYPE.get(
        determine_file_type(filename), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    )
    return regexes
