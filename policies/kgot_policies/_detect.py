"""Finding secret-looking values in text: detect-secrets plus the platform's own patterns.

Returns only the *kind* of secret found, never the value, so no caller can
print it by accident. Public key material (certificates, public keys, SSH
keys, known_hosts lines, JWKS) is cut out before anything is judged.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import shlex
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.keyword import KeywordDetector
from detect_secrets.util.filetype import determine_file_type

from ._public import decoded_pem, is_public_label, pem_labels, without_public_material
from ._secret_names import WEBHOOK, is_secret_name, normalized_name

# Public IPs are addresses, not credentials.
_SKIPPED_DETECTORS = frozenset({"IPPublicDetector"})

# Values that only point at a secret (or are obviously not one).
_REFERENCE = re.compile(
    r"""^(
        \$\(?\{?[A-Za-z_][A-Za-z0-9_.-]*\}?\)?     # $(VAR) ${VAR} $VAR
      | \{\{.*\}\} | \$\{.*\}                     # templates
      | \{[A-Za-z_][A-Za-z0-9_]*\} | %[sd] | %\([A-Za-z_]+\)s   # format placeholders
      | <[^>]*>                                   # <placeholder>
      | \*+ | x+ | changeme | redacted | none | null | true | false | yes | no
      | /[^\s]*                                   # a path (a *_FILE variable)
      | (?-i:[a-z0-9_.-]+(/[a-z0-9_.-]+)+)        # a relative path, a vault or cloud secret path
      | \d+(\.\d+)?[a-z]{0,2}                     # numbers, sizes, durations
      | (secret|env|file|vault|ref\+[a-z0-9]+|awssm|gcpsm|azkv|sm|op)://.*   # resolved elsewhere
      | arn:aws[a-z-]*:.*                         # an AWS ARN (Secrets Manager, SSM)
      | (env|file):[^\s]+                         # env:API_KEY, file:/etc/kgot/key
    )$""",
    re.IGNORECASE | re.VERBOSE,
)

# Credentials in a URL's userinfo, the user possibly empty (redis://:pass@host).
_URL_CREDENTIAL = re.compile(r"[a-z][a-z0-9+.-]*://([^\s:/@'\"]*):([^\s@/'\"]+)@[^\s]", re.I)
# Go's MySQL DSN: user:pass@tcp(host:3306)/db; Oracle's user/pass@host.
_GO_DSN = re.compile(r"(?:^|[\s\"'=])[^\s:/@\"'=]*:([^\s@\"']+)@(?:tcp|unix)\(", re.I)
_ORACLE = re.compile(
    r"(?:jdbc:oracle:\w+:|^|[\s\"'=])[A-Za-z0-9_$#]+/([^\s@/\"':]+)@(?://)?[\w.-]+:\d+(?![\w])"
)
# key=value in query strings, DSNs (libpq, ADO.NET, JDBC), JAAS lines, shell assignments.
_INLINE = re.compile(
    r"""(?<![\w.])-{0,2}(?P<key>[A-Za-z_][\w.-]*)\s*=\s*
        (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<bare>[^\s;&,"'(){}\[\]]+))""",
    re.VERBOSE,
)
_AUTHORIZATION = re.compile(
    r"(?:authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|digest)|\bbearer)"
    r"\s+([A-Za-z0-9._~+/-]*\d[A-Za-z0-9._~+/-]*=*)",
    re.IGNORECASE,
)
# "key": "value" in JSON, wherever it sits on a line.
_QUOTED_PAIR = re.compile(r'"(?P<key>[A-Za-z_][\w.-]*)"\s*:\s*"(?P<value>[^"]*)"')
# user:password in base64: a Basic Authorization value, a docker config "auth".
_BASIC = re.compile(
    r"""(?:\bbasic\s+|"auth"\s*:\s*")([A-Za-z0-9+/]{6,}={0,2})(?![\w+/=])""", re.IGNORECASE
)
# .netrc: machine <host> login <user> password <password>
_NETRC = re.compile(r"\bmachine\s+\S+(?:\s+login\s+\S+)?\s+password\s+(\S+)")
# `key: value`, `key = value`, `"key": "value"`, `export KEY=value` in a config file.
_ASSIGNMENT = re.compile(
    r"""^[\s{\[,]*-?\s*(?:export\s+)?["']?([A-Za-z0-9_.-]+)["']?\s*[:=]\s*["']?([^"'\s#,]+)"""
)
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://[^\s@]+$", re.IGNORECASE)
# Padding is part of a token; an "=" inside it is an assignment (KEY=value).
_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_HASH_TOKEN = re.compile(r"^(sha\d+|md5)[-_]", re.IGNORECASE)
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HASH_PREFIX = re.compile(r"(sha256|sha384|sha512|sha1|md5)[:=-]$", re.IGNORECASE)
# Programs that take a password as a bare flag.
_PASSWORD_FLAGS = {"redis-cli": ("-a", "--pass"), "sshpass": ("-p",)}
_MYSQL = ("mysql", "mysqldump", "mysqladmin", "mariadb")
_USER_FLAGS = ("-u", "--user", "--proxy-user")


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
        if (
            _HEX.match(token)
            or _HASH_TOKEN.match(token)
            or _HASH_PREFIX.search(text[max(0, match.start() - 7) : match.start()])
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


def _private_keys(text: str) -> list[str]:
    kinds = []
    if any("PRIVATE" in label for label in pem_labels(text)):
        kinds.append("Private Key")
    if "LS0tLS1CRUdJTi" in text:
        for token in re.findall(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]*={0,2}", text):
            pem = decoded_pem(token)
            if pem is not None and not all(is_public_label(lbl) for lbl in pem_labels(pem)):
                kinds.append("Private Key (base64)")
    return kinds


def _credentials_in_strings(text: str) -> list[str]:
    """Connection strings, DSNs, query strings and headers that carry a credential."""
    kinds = []
    for pattern, kind in (
        (_URL_CREDENTIAL, "Connection string with password"),
        (_GO_DSN, "Connection string with password"),
        (_ORACLE, "Connection string with password"),
    ):
        if any(not is_reference(m.group(m.lastindex or 0)) for m in pattern.finditer(text)):
            kinds.append(kind)
    if "=" in text:
        for match in _INLINE.finditer(text):
            value = match.group("dq") or match.group("sq") or match.group("bare") or ""
            if _is_literal_secret(match.group("key"), value):
                kinds.append(f"Literal value of secret-named {match.group('key')}")
                break
    if '"' in text:
        for match in _QUOTED_PAIR.finditer(text):
            if _is_literal_secret(match.group("key"), match.group("value")):
                kinds.append(f"Literal value of secret-named {match.group('key')}")
                break
    for match in _AUTHORIZATION.finditer(text):
        if len(match.group(1)) >= 12 and not is_reference(match.group(1)):
            kinds.append("Authorization credential")
            break
    if any(_is_user_password(m.group(1)) for m in _BASIC.finditer(text)):
        kinds.append("Basic auth credentials (base64)")
    if "machine" in text and any(not is_reference(m.group(1)) for m in _NETRC.finditer(text)):
        kinds.append("netrc password")
    return kinds


def _is_user_password(token: str) -> bool:
    """Whether a base64 token decodes to user:password with a password."""
    try:
        decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    _, colon, password = decoded.partition(":")
    return bool(colon and password) and decoded.isprintable() and not is_reference(password)


def find_secret_kinds(text: str, filename: str = "", name: str = "") -> list[str]:
    """The kinds of secret the text seems to hold (empty: nothing found).

    filename selects detect-secrets' keyword rules for the text's format (a
    ConfigMap key such as alertmanager.yml); name is the variable or key that
    holds the text, for the platform's name-based rule.
    """
    if not text or not isinstance(text, str):
        return []
    text = without_public_material(text)
    if not text.strip():
        return []
    kinds: list[str] = []
    for detector in _regex_detectors():
        if any(True for _ in detector.analyze_string(text)):
            kinds.append(str(detector.secret_type))
    kinds += _private_keys(text)
    kinds += _credentials_in_strings(text)
    if filename:
        kinds += _file_assignments(text, filename)
    stripped = text.strip()
    if name and "\n" not in stripped and _is_literal_secret(name, stripped):
        kinds.append(f"Literal value of secret-named {name}")
    if _high_entropy_tokens(text):
        kinds.append("High entropy string")
    return sorted(set(kinds))


def _file_assignments(text: str, filename: str) -> list[str]:
    """Secret-named keys with literal values, line by line in a config file."""
    kinds = []
    regexes = _keyword_regexes(filename)
    keyword = KeywordDetector()
    for line in text.splitlines():
        assignment = _ASSIGNMENT.match(line)
        if assignment is not None:
            key, value = assignment.group(1), assignment.group(2)
            if _is_literal_secret(key, value):
                kinds.append(f"Literal value of secret-named {key}")
                kinds.append(str(KeywordDetector.secret_type))
                break
            # A key that names no secret (secretName, tokenAudience): the
            # keyword rules would only repeat the name's false alarm.
            continue
        found = [v for v in keyword.analyze_string(line, regexes) if not is_reference(v)]
        if found:
            kinds.append(str(KeywordDetector.secret_type))
            break
    return kinds


def _is_literal_secret(name: str, value: str) -> bool:
    if not is_secret_name(name) or len(value) < 4 or is_reference(value):
        return False
    # A plain URL under a secret-sounding name is where the secret lives,
    # unless it is a webhook (whose URL is the credential).
    return not _URL.match(value) or bool(WEBHOOK.search(normalized_name(name)))


def _words(parts: Iterable[str]) -> list[str]:
    """A command line's words, shell strings (sh -c '...') split as the shell would."""
    words: list[str] = []
    for part in parts:
        if any(c.isspace() for c in part):
            try:
                words += shlex.split(part, comments=False)
            except ValueError:
                words += part.split()
        else:
            words.append(part)
    return words


def _program(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def find_secret_kinds_in_command(parts: Sequence[Any]) -> list[str]:
    """The kinds of secret a command line (command + args) carries."""
    strings = [p for p in parts if isinstance(p, str)]
    if not strings:
        return []
    kinds = set(find_secret_kinds("\n".join(strings)))
    words = _words(strings)
    programs = {_program(w) for w in words}
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        literal = bool(following) and not following.startswith("-")
        if word.startswith("-") and "=" not in word and literal:
            flag = word.lstrip("-")
            if _is_literal_secret(flag, following):
                kinds.add(f"Literal value of secret-named flag {word}")
            if word in _USER_FLAGS:
                _, colon, password = following.partition(":")
                if colon and password and not is_reference(password):
                    kinds.add(f"Credentials in {word}")
            for program, flags in _PASSWORD_FLAGS.items():
                if program in programs and word in flags and not is_reference(following):
                    kinds.add(f"Password flag {word} of {program}")
        if (
            re.fullmatch(r"-p\S{3,}", word)
            and not programs.isdisjoint(_MYSQL)
            and not is_reference(word[2:])
        ):
            kinds.add("Password flag -p of mysql")
    return sorted(kinds)


def _keyword_regexes(filename: str) -> dict[re.Pattern[str], int]:
    from detect_secrets.plugins.keyword import (
        QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP,
        REGEX_BY_FILETYPE,
    )

    regexes: dict[re.Pattern[str], int] = REGEX_BY_FILETYPE.get(
        determine_file_type(filename), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    )
    return regexes
