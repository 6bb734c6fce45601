"""What every anchor network's typed settings share: the pydantic base model, how a value given as
text (an environment variable, a command-line flag) becomes a typed one, and how pydantic's
errors become this project's one line, "WHERE: expected X, found Y".

Each network declares its own model beside its backend (`ethereum/settings.py`, `ipfs/settings.py`,
`bitcoin/settings.py`), with `ENV`: field -> the environment variables that set it, first one set
wins. `provenance.config` composes them with the run's own settings and applies the one
precedence, defaults < config file or dict < environment < command-line flags.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, ClassVar, Mapping

from pydantic import AfterValidator, BaseModel, ConfigDict, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError

from ..errors import ConfigError

MAX_SECONDS = 86_400.0
MAX_RETRY_ATTEMPTS = 100
MAX_CONFIRMATIONS = 1000

# pydantic's error type -> the name our messages use for the expected type
_TYPE_NAMES = {
    "bool_type": "bool", "bool_parsing": "bool", "int_type": "int", "int_parsing": "int", "int_from_float": "int",
    "string_type": "str", "list_type": "list", "float_type": "number", "float_parsing": "number",
    "dict_type": "an object", "model_type": "an object", "model_attributes_type": "an object",
    "decimal_type": "number", "decimal_parsing": "number",
}


def problem(message: str) -> PydanticCustomError:
    """A validation failure whose text is the message as written ("expected X, found Y")."""
    return PydanticCustomError("provenance", "{message}", {"message": message})


class Section(BaseModel):
    """One part of the configuration. Unknown fields are refused; values from a file or a dict are
    validated strictly (JSON's `"1"` is not an int), values from text are converted first."""

    model_config = ConfigDict(extra="forbid", validate_default=False, frozen=False)

    ENV: ClassVar[Mapping[str, tuple[str, ...]]] = {}  # field -> environment variables, first set wins
    LIST_SEPARATOR: ClassVar[str] = ","

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
        """{field: (where, typed value)} for every field an environment variable sets."""
        found: dict[str, tuple[str, Any]] = {}
        for field, names in cls.ENV.items():
            for name in names:
                text = environ.get(name)
                if text:  # an empty variable counts as unset
                    found[field] = (f"${name}", cls.from_text(field, text, f"${name}"))
                    break
        return found

    def keep_from(self, given: Any) -> None:
        """What a section keeps of the mapping it was made from beyond its fields (never dumped):
        nothing, unless a network's section says otherwise."""

    @classmethod
    def check(cls, where: str, **values: Any) -> None:
        """`values` validated by this model's own rules, for code that takes them as arguments (a
        backend made without a config): one ConfigError line naming `where` + the field."""
        try:
            cls.model_validate(values, strict=True)
        except ValidationError as e:
            raise ConfigError(validation_line(e, cls, {(name,): f"{where}{name}" for name in values})) from None

    @classmethod
    def from_text(cls, field: str, value: Any, where: str) -> Any:
        """`value` (text from the environment, or a flag click already typed) as `field`'s type."""
        annotation = cls.model_fields[field].annotation
        if isinstance(value, str) and getattr(annotation, "__origin__", None) is list:
            value = [part.strip() for part in value.split(cls.LIST_SEPARATOR) if part.strip()]
        try:
            return TypeAdapter(annotation).validate_python(value)
        except ValidationError as e:
            raise ConfigError(validation_line(e, None, {(): where})) from None


def validation_line(error: ValidationError, model: type[BaseModel] | None, origins: Mapping[tuple[Any, ...], str]) -> str:
    """The first error of `error` (from validating `model`) as "WHERE: expected X, found Y".
    `origins` names where a value came from ("$PROVENANCE_BITCOIN_CHAIN", "--chain"); other
    values are named by their config path."""
    first = error.errors()[0]
    loc = tuple(first["loc"])
    where = origins.get(loc) or origins.get(loc[:-1] if loc and isinstance(loc[-1], int) else loc) or "config: " + dotted(loc)
    if first["type"] == "provenance":
        return f"{where}: {first['ctx']['message']}"
    found = first.get("input")
    expected = _TYPE_NAMES.get(first["type"])
    if expected is None:
        return f"{where}: expected {first['msg'].lower()}, found {describe(found)}"
    if expected != "an object" and _nullable(model, loc):
        expected += " or null"
    return f"{where}: expected {expected}, found {type(found).__name__} ({describe(found)})"


def _nullable(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> bool:
    """Whether the field at `loc` of `model` accepts null (its default is None)."""
    for i, part in enumerate(loc):
        if model is None or not isinstance(part, str) or part not in model.model_fields:
            return False
        field = model.model_fields[part]
        if i == len(loc) - 1:
            return field.default is None
        model = field.annotation if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel) else None
    return False


def dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def describe(value: Any) -> str:
    """A value for an error message, without quoting anything long (it may be a mistyped key)."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 24 else f"a {len(value)}-character string"
    if value is None or isinstance(value, (bool, int, float)):
        return repr(value) if not isinstance(value, int) or abs(value) < 10**24 else f"a {len(str(value))}-digit number"
    return type(value).__name__


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://")) and len(text) > len("https://")


def seconds(value: float) -> float:
    """A timeout: finite, positive, at most a day (JSON allows `Infinity` and `1e400`)."""
    if not (math.isfinite(value) and 0 < value <= MAX_SECONDS):
        raise problem(f"expected a positive finite number up to {MAX_SECONDS:g}, found {value!r}")
    return value


def in_range(low: int, high: int) -> Any:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise problem(f"expected {low}..{high}, found {value}")
        return value

    return check


# The field types the networks share, each with its one range rule.
Seconds = Annotated[float, AfterValidator(seconds)]
Positive = Seconds  # the same bound for other positive numbers (a fee rate)
Confirmations = Annotated[int, AfterValidator(in_range(1, MAX_CONFIRMATIONS))]
RetryAttempts = Annotated[int, AfterValidator(in_range(1, MAX_RETRY_ATTEMPTS))]
