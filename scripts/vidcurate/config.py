"""Reading the config: checked against the workflow's JSON Schema, every default filled
in, each problem one line naming the key and what it may be. The workflow (rules/
common.smk) and the annotation page read it the same way."""

from __future__ import annotations

import copy

from jsonschema import Draft202012Validator, validators


class ConfigError(ValueError):
    """The config breaks the schema or a rule between keys; one line per problem, each
    naming the key and what it may be."""


def _filling_defaults(validator_class):
    """The JSON Schema validator that also fills each ``default`` in, as Snakemake's
    validate() does."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in props.items():
                if isinstance(subschema, dict) and "default" in subschema:
                    instance.setdefault(name, copy.deepcopy(subschema["default"]))
        yield from check_properties(validator, props, instance, schema)

    return validators.extend(validator_class, {"properties": properties})


def _problem(error) -> str:
    """One schema error as a line: the key, its value, what it may be."""
    key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
    value = error.instance
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{key}: {value!r} is not one of {allowed}"
    if error.validator == "additionalProperties":
        known = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(value) - set(known)) if isinstance(value, dict) else []
        return f"{key}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})"
    if error.validator == "type":
        kinds = error.validator_value
        kinds = " or ".join(kinds) if isinstance(kinds, list) else kinds
        return f"{key}: {value!r} is not {kinds}"
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">"}.get(
            error.validator, "<"
        )
        return f"{key}: {value!r} must be {bound} {error.validator_value}"
    return f"{key}: {error.message}"


def validate_config(config: dict, schema: dict) -> dict:
    """``config`` checked against the workflow's schema (JSON Schema 2020-12), every
    default filled in (in place). ConfigError with one line per problem."""
    validator = _filling_defaults(Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        raise ConfigError("\n".join(dict.fromkeys(_problem(e) for e in errors)))
    return config
