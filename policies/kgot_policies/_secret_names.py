"""Which names say "the value is a secret": env variables, ConfigMap keys, annotations.

Three sources, from the most specific:

1. `DOCUMENTED_NAMES`: the credential variables that cloud CLIs and SDKs read,
   as their own documentation names them (each group below says where). A
   name ending in one of them (`AZURE_STORAGE_KEY`, `MYAPP_OCI_CLI_KEY_CONTENT`)
   is a secret name whatever its words: `AZURE_STORAGE_KEY` says only "key",
   `OCI_CLI_KEY_CONTENT` only "content".
2. detect-secrets' keyword plugin (`detect_secrets.plugins.keyword.DENYLIST`,
   already the pack's dependency for value detectors, maintained by Yelp):
   `account_?key`, `service_?key`, `client_?key`, `db_?pass`, ... read from the
   installed package, so an upgrade brings its new words.
3. The platform's own words (`SECRET_NAME`): tokens, webhook URLs and the
   spellings detect-secrets does not list.

Names are normalized first (camelCase split, separators turned into `_`,
upper case); names that only describe a secret (`*_FILE`, `*_ID`, `*_TTL`,
public material, ...) pass for sources 2 and 3.
"""

from __future__ import annotations

import re

from detect_secrets.plugins.keyword import DENYLIST

# Variable names that say "the value is a secret" (names are normalized first:
# camelCase split, separators turned into _, upper case).
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?"
    r"|WEBHOOK_?URL|AUTH_?KEY|SIGNING_?KEY|ENCRYPTION_?KEY|SESSION_?KEY|MASTER_?KEY"
    r"|(?:^|_)(?:PASS|PWD)(?:_|$)"
)
# ...unless the name says it is only about the secret: where it is, how long it
# lives, who it is for, who issued it.
_NOT_SECRET_NAME = re.compile(
    r"_(FILE|PATH|DIR|NAME|ENABLED?|DISABLED|REQUIRED|TTL|TIMEOUT|REF|TYPE|MODE|STDIN"
    r"|URL|URI|ENDPOINT|HOST|PORT|HEADER|LENGTH|SIZE|COUNT|LIMIT|AUDIENCES?|AUD|ISSUER|ISS"
    r"|EXPIRY|EXPIRES|EXPIRATION|LIFETIME|DURATION|INTERVAL|PERIOD|AGE|SECONDS"
    r"|ALGORITHM|ALG|KID|PROVIDER|STORE|BACKEND|SCOPES?|POLICY|ROTATION|VERSION"
    r"|FORMAT|ENCODING|PREFIX|REALM|SUBJECT|CLAIMS?|KIND|LOCATION|SOURCE|MOUNT|NAMESPACE"
    r"|ARN|USER|USERNAME|CERT|CERTIFICATE|FINGERPRINT)$"
    # An identifier (ACCESS_KEY_ID, SIGNING_KEY_ID), but a Vault SECRET_ID is a secret.
    r"|(?<!_SECRET)(?<!^SECRET)_ID$"
    # The name of a Kubernetes Secret that holds it (TLS_SECRET, IMAGE_PULL_SECRET).
    r"|(PULL|TLS|PASSWORD|TOKEN|CREDENTIALS?|KEY)_SECRETS?$|TOKENI[SZ]"
    r"|^(EXISTING|USE|ENABLE|DISABLE|REQUIRE|SKIP|ALLOW|NUM|MIN|MAX)_"
    # Public by design, or only a fingerprint of the secret.
    r"|PUBLIC|PUBLISHABLE|CHECKSUM|DIGEST|HASH"
)
WEBHOOK = re.compile(r"WEBHOOK")
_WEBHOOK_ADDRESS = re.compile(r"_(URL|URI|ENDPOINT)$")
_FILE_SUFFIX = re.compile(r"_(FILE|PATH)$")
_FILE_EXTENSION = re.compile(
    r"(?<=.)\.(pem|crt|cer|der|key|pub|txt|json|ya?ml|env|conf|cfg|ini|toml|properties|xml)$",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")

# Credential variables documented by cloud CLIs and SDKs (vendored: a list of
# names, not code; add a name with the page that documents it).
DOCUMENTED_NAMES: frozenset[str] = frozenset(
    {
        # Azure CLI `az storage` and the Azure Storage SDKs:
        # https://learn.microsoft.com/cli/azure/storage (AZURE_STORAGE_KEY,
        # AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_SAS_TOKEN).
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_ACCESS_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_SAS_TOKEN",
        # Azure CLI `az batch` (--account-key; env AZURE_BATCH_ACCESS_KEY):
        # https://learn.microsoft.com/cli/azure/batch
        "AZURE_BATCH_ACCESS_KEY",
        "AZURE_BATCH_ACCOUNT_KEY",
        # Azure DevOps CLI personal access token:
        # https://learn.microsoft.com/azure/devops/cli/log-in-via-pat
        "AZURE_DEVOPS_EXT_PAT",
        # azure-identity EnvironmentCredential:
        # https://learn.microsoft.com/python/api/azure-identity/azure.identity.environmentcredential
        "AZURE_CLIENT_SECRET",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "AZURE_PASSWORD",
        # Terraform's azurerm provider and backend (ARM_*):
        # https://developer.hashicorp.com/terraform/language/backend/azurerm
        "ARM_CLIENT_SECRET",
        "ARM_ACCESS_KEY",
        "ARM_SAS_TOKEN",
        # OCI CLI environment variables:
        # https://docs.oracle.com/iaas/Content/API/SDKDocs/clienvironmentvariables.htm
        "OCI_CLI_KEY_CONTENT",
        "OCI_CLI_PASSPHRASE",
        # AWS CLI: https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        # Google Cloud, Terraform's google provider (GOOGLE_CREDENTIALS and
        # GOOGLE_CLOUD_KEYFILE_JSON hold the key's JSON itself):
        # https://registry.terraform.io/providers/hashicorp/google/latest/docs/guides/provider_reference
        "GOOGLE_CREDENTIALS",
        "GOOGLE_CLOUD_KEYFILE_JSON",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        # Alibaba Cloud CLI: https://www.alibabacloud.com/help/en/cli/configure-credentials
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "ALIBABA_CLOUD_SECURITY_TOKEN",
        # Tencent Cloud, Terraform provider and tccli:
        # https://registry.terraform.io/providers/tencentcloudstack/tencentcloud/latest/docs
        "TENCENTCLOUD_SECRET_KEY",
        # IBM Cloud CLI: https://cloud.ibm.com/docs/cli?topic=cli-ibmcloud_env_var
        "IBMCLOUD_API_KEY",
        # doctl https://docs.digitalocean.com/reference/doctl/, hcloud
        # https://github.com/hetznercloud/cli, linode-cli https://github.com/linode/linode-cli,
        # scw https://github.com/scaleway/scaleway-cli, exo https://github.com/exoscale/cli
        "DIGITALOCEAN_ACCESS_TOKEN",
        "HCLOUD_TOKEN",
        "LINODE_CLI_TOKEN",
        "SCW_SECRET_KEY",
        "EXOSCALE_API_SECRET",
        # OVHcloud API clients: https://github.com/ovh/python-ovh (OVH_APPLICATION_SECRET,
        # OVH_CONSUMER_KEY: the consumer key authorizes the calls).
        "OVH_APPLICATION_SECRET",
        "OVH_CONSUMER_KEY",
        # Cloudflare, Terraform provider:
        # https://registry.terraform.io/providers/cloudflare/cloudflare/latest/docs
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_API_KEY",
    }
)


def _keyword(entry: str) -> str:
    """A detect-secrets denylist entry (`account_?key`) as a pattern over normalized names."""
    return entry.upper()


# detect-secrets' words, as far as they survive normalization (ASCII only:
# `contraseña` normalizes to CONTRASE_A, and its ASCII spelling is listed too).
KEYWORD_NAME = re.compile(
    "|".join(_keyword(e) for e in DENYLIST if e.isascii() and re.fullmatch(r"[a-z_?]+", e))
)


def normalized_name(name: str) -> str:
    """DB_PASSWORD, db-password, dbPassword, example.com/db.password -> DB_PASSWORD.

    An annotation's DNS prefix (example.com/) names its owner, not the value.
    """
    prefix, slash, rest = name.rpartition("/")
    if slash and "." in prefix:
        name = rest
    # A file's extension says what format it is in, not what it is.
    name = _FILE_EXTENSION.sub("", name)
    return _SEPARATORS.sub("_", _CAMEL.sub("_", name)).strip("_").upper()


def is_secret_name(name: str) -> bool:
    normalized = normalized_name(name)
    if _documented(normalized):
        return True
    named = SECRET_NAME.search(normalized) or KEYWORD_NAME.search(normalized)
    if not named or _FILE_SUFFIX.search(normalized):
        return False
    if not _NOT_SECRET_NAME.search(normalized):
        return True
    # A webhook's URL is its credential.
    return bool(WEBHOOK.search(normalized) and _WEBHOOK_ADDRESS.search(normalized))


def _documented(normalized: str) -> bool:
    return any(normalized == n or normalized.endswith(f"_{n}") for n in DOCUMENTED_NAMES)
