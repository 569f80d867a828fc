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
import threading
from typing import Any

# (what it saves, installer function name); install() calls each once.
SPEEDUPS: tuple[tuple[str, str], ...] = (
    # memo_boto3_regions runs when this module is imported, before moto is.
    ("moto's package directory listed once, not on every request", "memo_moto_modules"),
    ("host -> service backend resolved once per host", "memo_backend_for_host"),
    ("a response class's method names scanned once per class", "memo_method_names"),
    ("one botocore loader for every service model", "shared_model_loader"),
    ("a service's region list asked of botocore once, not after every reset", "memo_service_regions"),
    ("the account of an access key found without creating IAM backends in partitions never used", "account_lookup_without_creating"),
    ("the AWS-managed policies' JSON read once, not per IAM backend", "memo_managed_policy_data"),
    ("a response member's attribute aliases worked out once per shape", "memo_attribute_aliases"),
    ("an XML element name checked once, not at every element", "memo_xml_name_checks"),
    ("XML answers written by one function into a list, not through a SAX writer's method calls", "direct_xml_writer"),
    ("an error's service found from one list of botocore's services, its error table built once", "memo_error_lookup"),
    ("an EC2 resource's tags read from its own entry, not by filtering every tag", "ec2_tags_by_resource"),
    ("instance type offerings of the asked types found by index, not by filtering thousands", "index_instance_type_offerings"),
    # Last: it loads through the speedups above.
    ("with WTT_EMULATOR_PRELOAD=1, what a wtt run's first requests load, loaded at start", "preload_if_asked"),
)

_installed = False


def memo_boto3_regions() -> None:
    """moto asks boto3.Session().get_available_regions() for EC2's regions
    three times while it imports, and for each service in each partition
    when an account's backends are made, each time from a Session that must
    load botocore's endpoint data (1 MB of JSON) and the service's model
    (EC2's: 2 MB) before it can answer. The answer depends only on
    botocore's data, which does not change while the server runs: each is
    worked out once, all in the first Session that asked (which then holds
    the data loaded, and serves as boto3's default Session, which moto's
    boto3.client() calls would otherwise make and load anew). Installed
    when this module is imported, before moto is: the first calls happen
    at moto's import."""
    import boto3
    import boto3.session

    original = boto3.session.Session.get_available_regions
    memo: dict[tuple[Any, ...], list[str]] = {}
    sessions: list[Any] = []
    lock = threading.Lock()

    def get_available_regions(
        self: Any, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
    ) -> list[str]:
        key = (service_name, partition_name, allow_non_regional)
        with lock:
            if key not in memo:
                if not sessions:
                    sessions.append(self)
                    # boto3.client() (moto's URL tables of REST services)
                    # would make a default Session of its own, as plain as
                    # this one, and load the endpoint data into it again.
                    if boto3.DEFAULT_SESSION is None:
                        boto3.DEFAULT_SESSION = self
                memo[key] = original(sessions[0], service_name, partition_name, allow_non_regional)
            return list(memo[key])

    boto3.session.Session.get_available_regions = get_available_regions  # type: ignore[method-assign]


def enabled() -> bool:
    """WTT_EMULATOR_SPEEDUPS=0 (or false, no, off) turns every speedup off."""
    value = os.environ.get("WTT_EMULATOR_SPEEDUPS", "").strip().lower()
    return value not in ("0", "false", "no", "off")


def install() -> int:
    """Apply every speedup once, unless turned off; returns how many are on."""
    global _installed
    if not enabled():
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
            if backend is not None and len(memo) < 10_000:  # hosts name buckets too: bounded
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
    finds the file. And the first requests to a service often arrive
    together (wtt sends its reads in parallel), so the cache, which holds
    nothing until the first of them finishes, lets each parse the model
    (EC2's is 2 MB of JSON: 0.4 s each). One loader, and one load of a
    model at a time, answer the same: moto already returns one cached model
    to every later request."""
    import moto.core.utils as core_utils

    lock = threading.RLock()
    loader: list[Any] = []
    models: dict[tuple[str, str], Any] = {}

    def _load_service_model(service_name: str, model_name: str) -> Any:
        with lock:
            key = (service_name, model_name)
            if key not in models:
                if not loader:
                    loader.append(core_utils.create_loader())
                models[key] = loader[0].load_service_model(service_name, model_name)
            return models[key]

    core_utils._load_service_model = _load_service_model  # type: ignore[assignment]


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


# What the first requests of a wtt run make moto load (found by tracing a
# ladder): the models of the services wtt calls that moto answers through
# botocore's models (servicequotas answers without one), the region lists
# of the backends they create, and the URL table of the one REST service.
WTT_MODELS = ("sts", "ssm", "ec2", "iam", "s3", "route53", "elbv2", "autoscaling")
WTT_REGION_LISTS = ("ec2", "ssm", "elb", "elbv2", "autoscaling", "kms", "service-quotas")
WTT_REST_URLS = (("route53", "us-east-1"),)


_preloaded = False


def preload() -> None:
    """Load now what the first requests of every wtt run make moto load:
    service models, region lists, Route 53's URL table (about 1 s of CPU).
    moto keeps each of them for the life of the process anyway, reset or
    not: nothing here is state that a reset clears. In one emulator this
    only moves the same CPU earlier (and costs it even if no request comes),
    so it is worth it only in a process that forks emulators, before it
    forks; install() runs it only with WTT_EMULATOR_PRELOAD=1."""
    global _preloaded
    if _preloaded:
        return
    _preloaded = True
    from moto.core.base_backend import AccountSpecificBackend
    from moto.core.responses import _get_method_urls
    from moto.core.utils import get_pagination_model, get_service_model

    for service in WTT_MODELS:
        get_service_model(service)
        try:
            get_pagination_model(service)
        except Exception:  # a service without a paginators file: moto loads none either
            pass
    for service in WTT_REGION_LISTS:
        AccountSpecificBackend._generate_regions(None, service)  # type: ignore[arg-type]
    for service, region in WTT_REST_URLS:
        _get_method_urls(service, region)


def preload_if_asked() -> None:
    """WTT_EMULATOR_PRELOAD=1 preloads at install. bench/emulator.sh uses
    it to show what an emulator saves when it starts with these loaded, as
    one forked from the test harness's fork server does (the fork server's
    own warm-up requests load them before it forks; preload() is there for
    any other process that forks emulators)."""
    if os.environ.get("WTT_EMULATOR_PRELOAD", "").strip() == "1":
        preload()


# ---------------------------------------------------------------------------
# Accounts and IAM
# ---------------------------------------------------------------------------


def account_lookup_without_creating() -> None:
    """Each request's setup asks moto.iam.models.get_account_id_from() which
    account the access key belongs to. It looks in every account's IAM
    backend of every partition and, by indexing them, creates the ones that
    do not exist yet: six IAM backends, each loading ~1,000 managed
    policies (0.15 s of CPU each), on the first request after start and
    after every reset. A backend that does not exist holds no access keys,
    so looking only in the ones that do gives the same account; the others
    are still created by the first request that uses them.

    One thing those backends did leave behind: the random draws of their
    policies' ids. After POST /moto-api/seed (which makes moto's ids repeat
    from run to run: the tutorial's test uses it) the lookup is moto's own
    again, so a seeded emulator hands out the very ids moto would. A reseed
    from fresh entropy (seed() without a value) repeats nothing and leaves
    the speedup on."""
    import moto.iam.models as iam_models
    from moto.moto_api._internal import mock_random
    from moto.utilities.utils import PARTITION_NAMES

    original = iam_models.get_account_id_from
    original_seed = mock_random.seed
    seeded: list[bool] = []

    def seed(a: Any = None, *args: Any, **kwargs: Any) -> Any:
        # seed() or seed(None) draws fresh entropy (the fork server gives
        # each child its own ids so): nothing to repeat, nothing to match.
        if a is not None:
            seeded.append(True)
        return original_seed(a, *args, **kwargs)

    mock_random.seed = seed  # type: ignore[method-assign]

    def get_account_id_from(access_key: str) -> str:
        if seeded:
            return original(access_key)
        for account_id, account in list(iam_models.iam_backends.items()):
            for partition in PARTITION_NAMES:
                backend = dict.get(account, partition)
                if backend is not None and access_key in backend.access_keys:
                    return account_id
        return iam_models.DEFAULT_ACCOUNT_ID

    iam_models.get_account_id_from = get_account_id_from


def memo_managed_policy_data() -> None:
    """Each IAM backend parses the AWS-managed policies' JSON (about 2 MB)
    and, for each of its ~1,000 policies, dumps the policy document back to
    JSON text and parses two dates. The policy objects are still built per
    backend, with moto's constructor (they carry per-account state:
    attachments, versions, a random id); only the values read from the
    constant text (immutable strings and datetimes) are worked out once."""
    import json
    from datetime import datetime

    import moto.iam.models as iam_models

    fields: list[list[tuple[str, dict[str, Any]]]] = []
    lock = threading.Lock()

    def policy_fields() -> list[tuple[str, dict[str, Any]]]:
        # As AWSManagedPolicy.from_data reads each policy's data.
        with lock:
            if not fields:
                data = json.loads(iam_models.aws_managed_policies_data)
                fields.append([
                    (name, {
                        "default_version_id": d.get("DefaultVersionId"),
                        "path": d.get("Path"),
                        "document": json.dumps(d.get("Document")),
                        "create_date": datetime.fromisoformat(d["CreateDate"]),
                        "update_date": datetime.fromisoformat(d["UpdateDate"]),
                    })
                    for name, d in data.items()
                ])
            return fields[0]

    def _init_aws_policies(self: Any) -> list[Any]:
        if not iam_models.load_iam_aws_managed_policies():
            return []
        policy = iam_models.AWSManagedPolicy
        return [
            policy(name, account_id=self.account_id, region=self.region_name, **kwargs)
            for name, kwargs in policy_fields()
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
    from moto.core.utils import get_value as lookup_dotted

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

    def shape_candidates(context: Any) -> tuple[str, ...]:
        """The candidates the five shape-only providers give, each followed
        by its xform_name as XFormedAttributePicker does, memoised on the
        shape (with the parent they were worked out for)."""
        shape = context.shape
        keys: list[str] = []
        for provider_cls in providers[1:]:
            provider = provider_cls(context)
            if provider.has_alias(context.key):
                alias = provider.get_alias(context.key)
                keys.append(alias)
                keys.append(xform_name(alias))
        memo = shape.__dict__.setdefault("_wtt_alias_memo", {})
        memo[(context.key, context.obj.__class__.__name__)] = (tuple(keys), getattr(shape, "parent", None))
        return tuple(keys)

    # Which of a response class's transformers could apply to a member
    # named key: moto tries each with key_path.endswith(path), and a key path
    # ends with ".<key>", so only a path that ends with the key, or that the
    # key ends with, can. Worked out per set of paths (moto adds to a
    # class's dict at run time: the set is checked once per answer); the
    # functions are always looked up afresh.
    transformer_memo: dict[int, tuple[Any, frozenset[str], dict[str, tuple[str, ...]]]] = {}

    def transform_memo(transformers: dict[str, Any]) -> dict[str, tuple[str, ...]]:
        entry = transformer_memo.get(id(transformers))
        if entry is None or entry[0] is not transformers or entry[1] != transformers.keys():
            entry = transformer_memo[id(transformers)] = (transformers, frozenset(transformers), {})
        return entry[2]

    def get_value(self: Any, value: Any, key: str, shape: Any) -> Any:
        picker = self._value_picker
        if (
            type(picker) is not ser.XFormedAttributePicker
            or shape is None
            or picker.alias_providers is not ser.DEFAULT_ALIAS_PROVIDERS
        ):
            return original_get_value(self, value, key, shape)
        # moto.core.utils.get_value(obj, name, MISSING) for a name without
        # dots (no candidate has one), as moto looks each candidate up.
        indexable = hasattr(value, "__getitem__")

        def lookup(name: str) -> Any:
            if not indexable:
                return getattr(value, name, missing)
            try:
                return value[name]
            except (KeyError, IndexError, TypeError, AttributeError):
                return missing

        found = missing
        # ExplicitAlias, as moto asks it: first, and of this very object.
        if hasattr(value, "Meta") and hasattr(value.Meta, "serialization_aliases") and key in value.Meta.serialization_aliases:
            alias = value.Meta.serialization_aliases[key]
            found = lookup_dotted(value, alias, missing)
            if found is missing:
                found = lookup_dotted(value, xform_name(alias), missing)
        if found is missing:
            class_name = value.__class__.__name__
            memo = shape.__dict__.get("_wtt_alias_memo")
            candidates = None
            if memo is not None:
                entry = memo.get((key, class_name))
                if entry is not None and entry[1] is getattr(shape, "parent", None):
                    candidates = entry[0]
            if candidates is None:
                context = ser.AttributePickerContext(
                    obj=value,
                    key=key,
                    shape=shape,
                    operation_model=self.operation_model,
                    service_model=self.operation_model.service_model,
                    key_path=".".join(self.path),
                )
                candidates = shape_candidates(context)
            for candidate in candidates:
                found = lookup(candidate) if "." not in candidate else lookup_dotted(value, candidate, missing)
                if found is not missing:
                    break
            else:
                found = None
        transformers = picker.response_transformers
        if transformers:
            paths_by_key = self.__dict__.get("_wtt_transform_memo")
            if paths_by_key is None:
                paths_by_key = self.__dict__["_wtt_transform_memo"] = transform_memo(transformers)
            paths = paths_by_key.get(key)
            if paths is None:
                paths = paths_by_key[key] = tuple(p for p in transformers if p.endswith(key) or key.endswith(p))
            if paths:
                key_path = f"{'.'.join(self.path)}.{key}"
                for path in paths:
                    if key_path.endswith(path):
                        found = transformers[path](found)
                        break
        return found

    ser.ResponseSerializer.get_value = get_value  # type: ignore[method-assign]


def memo_xml_name_checks() -> None:
    """xmltodict.unparse (moto's XML writer) checks every element and
    attribute name it writes for characters that would break out of a tag:
    seven scans of the string, one a Python loop over its characters, for
    each of the thousands of elements in a describe's answer. The names are
    the model's member names, a small fixed set; a name that passed once
    passes again (the check depends on the name alone), and a name that
    fails is checked (and fails) every time."""
    import xmltodict

    original = xmltodict._validate_name
    passed: set[tuple[str, str]] = set()

    def _validate_name(value: Any, kind: str) -> None:
        if type(value) is str and (value, kind) in passed:
            return
        original(value, kind)
        if type(value) is str and len(passed) < 100_000:
            passed.add((value, kind))

    xmltodict._validate_name = _validate_name


class _NotPlain(Exception):
    """Input the direct XML writer leaves to xmltodict (comments, namespace
    maps, non-string names, more than one root...)."""


def direct_xml_writer() -> None:
    """moto writes every XML answer with xmltodict.unparse, which walks the
    dict and calls a SAX XMLGenerator once per element start, end and text
    (each a few Python calls of their own). For the arguments moto passes
    (no output stream, no pretty-printing, no namespaces, no preprocessor)
    this writes the same text straight into a list: the same walk as
    xmltodict's _emit, in the same order, with XMLGenerator's own escape()
    and quoteattr() and its rule for empty elements (<a/> when
    short_empty_elements, else <a></a>). Anything else in the input
    (comments, namespace maps, a name xmltodict would refuse) goes to
    xmltodict itself, which then answers (or raises) as it always did.
    test_speedups.py compares the two on awkward input."""
    from xml.sax.saxutils import escape, quoteattr

    import xmltodict

    original = xmltodict.unparse
    to_string = xmltodict._convert_value_to_string
    not_iterated = (str, bytes, bytearray, memoryview, dict)

    def write(input_dict: Any, full_document: bool, short: bool) -> str:
        parts: list[str] = []
        out = parts.append
        pending = [False]  # an element start written without its ">" yet

        def emit(key: Any, value: Any, depth: int) -> None:
            if type(key) is not str or key == "#comment":
                raise _NotPlain
            try:
                xmltodict._validate_name(key, "element")
            except ValueError:
                raise _NotPlain from None
            if not hasattr(value, "__iter__") or isinstance(value, not_iterated):
                value = [value]
            for index, v in enumerate(value):
                if full_document and depth == 0 and index > 0:
                    raise _NotPlain
                if v is None:
                    v = {}
                elif not isinstance(v, (dict, str)):
                    v = to_string(v)
                if isinstance(v, str):
                    v = {"#text": v}
                cdata = None
                attrs: dict[str, str] = {}
                children = []
                for ik, iv in v.items():
                    if ik == "#text":
                        cdata = None if iv is None else to_string(iv)
                        continue
                    if isinstance(ik, str) and ik.startswith("@"):
                        if ik == "@xmlns" and isinstance(iv, dict):
                            raise _NotPlain
                        if iv is None:
                            iv = ""
                        elif not isinstance(iv, str):
                            iv = to_string(iv)
                        name = ik[1:]
                        try:
                            xmltodict._validate_name(name, "attribute")
                        except ValueError:
                            raise _NotPlain from None
                        attrs[name] = iv
                        continue
                    if isinstance(iv, list) and not iv:
                        continue
                    children.append((ik, iv))
                # XMLGenerator.startElement
                if pending[0]:
                    out(">")
                    pending[0] = False
                out("<" + key)
                for name, attr in attrs.items():
                    out(" %s=%s" % (name, quoteattr(attr)))
                if short:
                    pending[0] = True
                else:
                    out(">")
                for child_key, child_value in children:
                    emit(child_key, child_value, depth + 1)
                # XMLGenerator.characters
                if cdata:
                    if pending[0]:
                        out(">")
                        pending[0] = False
                    out(escape(cdata))
                # XMLGenerator.endElement
                if pending[0]:
                    out("/>")
                    pending[0] = False
                else:
                    out("</%s>" % key)

        if full_document:
            out('<?xml version="1.0" encoding="utf-8"?>\n')
        seen_root = False
        for key, value in input_dict.items():
            if key == "#comment" or (full_document and seen_root):
                raise _NotPlain
            emit(key, value, 0)
            seen_root = True
        if full_document and not seen_root:
            raise _NotPlain
        return "".join(parts)

    def unparse(
        input_dict: Any,
        output: Any = None,
        encoding: str = "utf-8",
        full_document: bool = True,
        short_empty_elements: bool = False,
        comment_key: str = "#comment",
        **kwargs: Any,
    ) -> Any:
        plain = (
            output is None
            and encoding == "utf-8"
            and comment_key == "#comment"
            and not kwargs.get("pretty")
            and not (kwargs.keys() - {"pretty"})
            and isinstance(input_dict, dict)
        )
        if plain:
            try:
                return write(input_dict, full_document, short_empty_elements)
            except _NotPlain:
                pass
        return original(
            input_dict, output, encoding, full_document, short_empty_elements, comment_key, **kwargs
        )

    xmltodict.unparse = unparse


def memo_error_lookup() -> None:
    """Serializing an error (NotFound and the like, which wtt's observation
    meets often) asks two things moto recomputes: which botocore service a
    moto package is (cached per package, but each first answer builds a new
    botocore Session and lists every service's data directory: 0.1 s), and
    the table from error code to error shape, which ErrorLookupFactory
    caches in a factory made anew for every error. Both depend only on
    botocore's data and the service's model, which moto never reloads."""
    import moto.core.errors as errors
    import moto.core.utils as core_utils

    lock = threading.Lock()
    services: list[dict[str, str]] = []

    def service_name_from_moto_package_name(moto_package_name: str) -> str:
        with lock:
            if not services:
                from botocore.session import Session

                services.append({name.replace("-", ""): name for name in Session().get_available_services()})
            return services[0].get(moto_package_name, moto_package_name)

    core_utils.service_name_from_moto_package_name = service_name_from_moto_package_name  # type: ignore[assignment]

    original_for_service = errors.ErrorLookupFactory.for_service
    tables: dict[int, tuple[Any, Any]] = {}

    def for_service(self: Any, service_model: Any) -> Any:
        entry = tables.get(id(service_model))
        if entry is None or entry[0] is not service_model:
            entry = tables[id(service_model)] = (service_model, original_for_service(self, service_model))
        return entry[1]

    errors.ErrorLookupFactory.for_service = for_service  # type: ignore[method-assign]


def ec2_tags_by_resource() -> None:
    """Every EC2 object in an answer reads its tags with
    describe_tags(filters={"resource-id": [its id]}), which turns the id
    into a wildcard pattern and tries it on every tag of every resource in
    the region: the cost of a describe grows with the square of what
    exists. An id without wildcard characters matches only itself, so its
    own entry holds exactly the tags that call returns, in the same order
    and the same form. Ids with wildcard characters go the long way."""
    import moto.ec2.models.tags as tags_module
    from moto.ec2.models.core import TaggedEC2Resource

    original = TaggedEC2Resource.get_tags

    def get_tags(self: Any) -> list[dict[str, str]]:
        resource_id = self.id
        if not resource_id:
            return []
        backend = self.ec2_backend
        all_tags = getattr(backend, "tags", None)
        if (
            type(resource_id) is not str
            or any(c in resource_id for c in "*?[\\")
            or not isinstance(all_tags, dict)
            or type(backend).describe_tags is not tags_module.TagBackend.describe_tags
        ):
            return original(self)
        own = dict.get(all_tags, resource_id)
        if not own:
            return []
        resource_type = tags_module.EC2_PREFIX_TO_RESOURCE.get(tags_module.get_prefix(resource_id), "")
        return [
            {"resource_id": resource_id, "key": key, "value": value, "resource_type": resource_type}
            for key, value in list(own.items())
        ]

    TaggedEC2Resource.get_tags = get_tags  # type: ignore[method-assign]


def index_instance_type_offerings() -> None:
    """DescribeInstanceTypeOfferings runs moto's filter over every offering
    of the region (thousands: every type in every zone) although wtt always
    asks for one or two instance types. The offerings are moto's constant
    data, loaded at import; an index from instance type to positions gives
    the offerings that can pass the instance-type filter, in their original
    order, and moto's own filter then decides on each of them as before."""
    import moto.ec2.models.instance_types as it

    original = it.InstanceTypeOfferingBackend.describe_instance_type_offerings
    indexes: dict[tuple[str, str], dict[Any, list[int]]] = {}
    lock = threading.Lock()

    def describe_instance_type_offerings(
        self: Any, location_type: str | None = None, filters: dict[str, Any] | None = None
    ) -> list[Any]:
        types = (filters or {}).get("instance-type")
        if not isinstance(types, list) or not isinstance(it.INSTANCE_TYPE_OFFERINGS, dict):
            return original(self, location_type, filters)
        location = location_type or "region"
        offerings = it.INSTANCE_TYPE_OFFERINGS[location].get(self.region_name, [])
        with lock:
            index = indexes.get((location, self.region_name))
            if index is None:
                index = indexes[(location, self.region_name)] = {}
                for position, offering in enumerate(offerings):
                    index.setdefault(offering.get("InstanceType"), []).append(position)
        positions = sorted({p for t in types for p in index.get(t, [])})
        return [
            offerings[p] for p in positions
            if self.matches_filters(offerings[p], filters or {}, location)
        ]

    it.InstanceTypeOfferingBackend.describe_instance_type_offerings = describe_instance_type_offerings  # type: ignore[method-assign]


# At import, before moto is imported (wtt_emulator imports this module first).
if enabled():
    memo_boto3_regions()
