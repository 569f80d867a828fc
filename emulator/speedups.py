"""Speedups: moto's answers for less CPU per request.

moto's server recomputes, on every request, things that cannot change while
it runs: it lists its own package directory to tell a service name from a
host name, scans a class's members to find the method for an action, builds
a new botocore loader (which lists botocore's data directory) for each
service model, asks botocore for the same region lists again after every
reset, and works out the same attribute aliases for each member of each
response. And before it can say which account a request's access key
belongs to, it creates an IAM backend in every partition (aws, aws-cn,
aws-us-gov, ...), each loading the ~1,000 AWS-managed policies.

Each speedup below memoises one of those, or skips work whose result is
known without it; none changes an answer, a wire shape, an error or what
POST /moto-api/reset clears (docs/emulator.md, "Speedups", says for each
why). WTT_EMULATOR_SPEEDUPS=0 leaves moto as it is, which is how
bench/emulator.sh measures the difference side by side.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

# (what it saves, installer function name); install() calls each once.
SPEEDUPS: tuple[tuple[str, str], ...] = (
    ("moto's package directory listed once, not on every request", "memo_moto_modules"),
    ("host -> service backend resolved once per host", "memo_backend_for_host"),
    ("a response class's method names scanned once per class", "memo_method_names"),
    ("one botocore loader for every service model", "shared_model_loader"),
    ("a service's region list asked of botocore once, not after every reset", "memo_service_regions"),
    ("the account of an access key found without creating IAM backends in partitions never used", "account_lookup_without_creating"),
    ("the AWS-managed policies' JSON parsed once, not per IAM backend", "memo_managed_policy_data"),
    ("a response member's attribute aliases worked out once per shape", "memo_attribute_aliases"),
)

_installed = False


def enabled() -> bool:
    """WTT_EMULATOR_SPEEDUPS=0 (or false, no, off) turns every speedup off."""
    value = os.environ.get("WTT_EMULATOR_SPEEDUPS", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def install() -> int:
    """Apply every speedup once, unless turned off; returns how many are on."""
    global _installed
    if not enabled():
        print("wtt emulator: speedups off (WTT_EMULATOR_SPEEDUPS=0)", file=sys.stderr, flush=True)
        return 0
    if not _installed:
        for _, function_name in SPEEDUPS:
            globals()[function_name]()
        _installed = True
    return len(SPEEDUPS)


# ---------------------------------------------------------------------------
# Routing a request to its service
# ---------------------------------------------------------------------------


def memo_moto_modules() -> None:
    """moto.backends.list_of_moto_modules() lists moto's package directory
    and stats every entry (about 170) each time; DomainDispatcherApplication
    calls it once or twice per request. The installed package does not
    change while the server runs."""
    import moto.backends as backends

    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    backends.list_of_moto_modules = list_of_moto_modules  # type: ignore[assignment]


def memo_backend_for_host() -> None:
    """get_backend_for_host() matches the host against ~200 URL patterns,
    in order, on every request; its answer depends on the host alone (the
    patterns are fixed at import). Unknown hosts (None) are not remembered,
    so moto still prints its hint for each of them."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    memo: dict[str, Any] = {}

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host is None:
            return None
        backend = memo.get(host)
        if backend is None:
            backend = original(self, host)
            if backend is not None:
                memo[host] = backend
        return backend

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def memo_method_names() -> None:
    """BaseResponse.call_action() runs inspect.getmembers() over the whole
    response class (hundreds of attributes) to learn whether the action has
    a method. Classes are complete once the additions are installed, before
    the first request; a class patched later (a test's own patch) gets a
    fresh scan because the memo is keyed by the class and its __dict__ size."""
    import moto.core.responses as responses

    original = responses.method_names_from_class
    memo: dict[Any, list[str]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        key = (clazz, sum(len(c.__dict__) for c in clazz.__mro__))
        names = memo.get(key)
        if names is None:
            names = memo[key] = original(clazz)
        return names

    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]


# ---------------------------------------------------------------------------
# Service models and regions
# ---------------------------------------------------------------------------


def shared_model_loader() -> None:
    """moto builds a new botocore Loader for each service model it loads
    (get_service_model and get_pagination_model are cached, the loader is
    not); each new loader lists every botocore data directory before it
    finds the file. One loader answers the same, and caches the listing."""
    import moto.core.utils as core_utils

    original = core_utils.create_loader
    lock = threading.Lock()
    shared: list[Any] = []

    def create_loader() -> Any:
        with lock:
            if not shared:
                shared.append(original())
            return shared[0]

    core_utils.create_loader = create_loader  # type: ignore[assignment]


def memo_service_regions() -> None:
    """Every account's backends for a service ask botocore for the
    service's regions in every partition (AccountSpecificBackend's
    _generate_regions, cached per instance only): after each reset, again
    for each service. The regions come from botocore's endpoint data, which
    does not change while the server runs."""
    from moto.core.base_backend import AccountSpecificBackend

    original = AccountSpecificBackend._generate_regions.__wrapped__  # under its lru_cache
    memo: dict[str, list[str]] = {}
    lock = threading.Lock()

    def _generate_regions(self: AccountSpecificBackend, service_name: str) -> list[str]:
        with lock:
            if service_name not in memo:
                memo[service_name] = original(self, service_name)
            return list(memo[service_name])

    AccountSpecificBackend._generate_regions = _generate_regions  # type: ignore[method-assign]


# ---------------------------------------------------------------------------
# Accounts and IAM
# ---------------------------------------------------------------------------


def account_lookup_without_creating() -> None:
    """Each request's setup asks moto.iam.models.get_account_id_from() which
    account the access key belongs to. It looks in every account's IAM
    backend of every partition and, by indexing them, creates the ones that
    do not exist yet: six IAM backends, each loading ~1,000 managed
    policies (0.25 s of CPU each), on the first request after start and
    after every reset. A backend that does not exist holds no access keys,
    so looking only in the ones that do gives the same account; the others
    are still created by the first request that uses them."""
    import moto.iam.models as iam_models
    from moto.utilities.utils import PARTITION_NAMES

    def get_account_id_from(access_key: str) -> str:
        for account_id, account in list(iam_models.iam_backends.items()):
            for partition in PARTITION_NAMES:
                backend = dict.get(account, partition)
                if backend is not None and access_key in backend.access_keys:
                    return account_id
        return iam_models.DEFAULT_ACCOUNT_ID

    iam_models.get_account_id_from = get_account_id_from


def memo_managed_policy_data() -> None:
    """Each IAM backend parses the AWS-managed policies' JSON (about 2 MB)
    again before building its own policy objects from it. The objects are
    still built per backend (they carry per-account state: attachments,
    versions, ids); only the parse of the constant text is shared, and
    AWSManagedPolicy.from_data only reads it."""
    import json

    import moto.iam.models as iam_models

    parsed: list[dict[str, Any]] = []
    lock = threading.Lock()

    def _init_aws_policies(self: Any) -> list[Any]:
        if not iam_models.load_iam_aws_managed_policies():
            return []
        with lock:
            if not parsed:
                parsed.append(json.loads(iam_models.aws_managed_policies_data))
        return [
            iam_models.AWSManagedPolicy.from_data(name, self.account_id, self.region_name, data)
            for name, data in parsed[0].items()
        ]

    iam_models.IAMBackend._init_aws_policies = _init_aws_policies  # type: ignore[method-assign]


# ---------------------------------------------------------------------------
# Serializing responses
# ---------------------------------------------------------------------------


def memo_attribute_aliases() -> None:
    """moto's serializer finds each response member's value on the model
    object by trying a list of candidate attribute names, made for every
    member of every object by six alias providers (each a new object). Five
    of the six look only at the shape, its parent shape, the member's key
    and the object's class name, which are the same for every object of a
    response shape; the sixth (an explicit alias on the object's Meta) is
    still asked each time, first, as moto does. The candidates are tried in
    moto's order with moto's lookup, so the same value is picked."""
    from botocore import xform_name

    import moto.core.serialize as ser
    from moto.core.utils import get_value as lookup

    providers = (
        ser.ExplicitAlias,
        ser.ShapeNameAlias,
        ser.NoAlias,
        ser.ShapePrefixAlias,
        ser.ClassPrefixAlias,
        ser.ModelAlias,
    )
    if tuple(ser.DEFAULT_ALIAS_PROVIDERS) != providers:
        return  # moto changed its providers: keep its own picker
    missing = ser.MISSING
    original_get_value = ser.ResponseSerializer.get_value

    def shape_candidates(context: Any, class_name: str) -> tuple[str, ...]:
        """The candidates the five shape-only providers give, xformed as
        XFormedAttributePicker does, memoised on the shape."""
        shape = context.shape
        parent = getattr(shape, "parent", None)
        memo = shape.__dict__.get("_wtt_alias_memo")
        if memo is None:
            memo = shape.__dict__["_wtt_alias_memo"] = {}
        mkey = (context.key, class_name, id(parent))
        found = memo.get(mkey)
        if found is None:
            keys = []
            for provider_cls in providers[1:]:
                provider = provider_cls(context)
                if provider.has_alias(context.key):
                    alias = provider.get_alias(context.key)
                    keys.append(alias)
                    keys.append(xform_name(alias))
            found = memo[mkey] = (tuple(keys), parent)
        return found[0]

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if type(picker) is not ser.XFormedAttributePicker or shape is None or picker.alias_providers is not ser.DEFAULT_ALIAS_PROVIDERS:
            return original_get_value(self, value, key, shape)
        context = ser.AttributePickerContext(
            obj=value,
            key=key,
            shape=shape,
            operation_model=self.operation_model,
            service_model=self.operation_model.service_model,
            key_path="",
        )
        found = missing
        explicit = ser.ExplicitAlias(context)
        if explicit.has_alias(key):
            alias = explicit.get_alias(key)
            for candidate in (alias, xform_name(alias)):
                found = lookup(value, candidate, missing)
                if found is not missing:
                    break
        if found is missing:
            for candidate in shape_candidates(context, value.__class__.__name__):
                found = lookup(value, candidate, missing)
                if found is not missing:
                    break
        if found is missing:
            found = None
        if picker.response_transformers:
            key_path = f"{'.'.join(self.path)}.{key}"
            for transform_path, transform in picker.response_transformers.items():
                if key_path.endswith(transform_path):
                    found = transform(found)
                    break
        return found

    ser.ResponseSerializer.get_value = get_value  # type: ignore[method-assign]
