"""JSON Schema (draft 2020-12) of a config class, built from its Section fields' types, help texts and bounds.

    schema = SACConfig.json_schema()      # or section_schema(SACConfig)
    json.dumps(schema, indent=2)          # for editors / external validators

Every section becomes an object with `additionalProperties: false` (configs are strict), every field carries
its help text as `description`, its default as `default` and its numeric bounds as `minimum` / `maximum`.
"""

from typing import Any, Literal, get_args, get_origin

from robokit.config.typecheck import split_choices, split_optional

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def annotation_schema(annotation: Any) -> dict:
    """The schema of one plain-data annotation (bool, int, float, str, list[T], dict, Any, Literal, Optional)."""
    optional, inner = split_optional(annotation)
    origin, args = get_origin(inner), get_args(inner)
    if origin is Literal:
        schema: dict = {"enum": list(args) + ([None] if optional else [])}
        return schema
    if split_choices(inner) is not None:
        choices, other = split_choices(inner)
        return {"anyOf": [annotation_schema(other), {"enum": list(choices) + ([None] if optional else [])}]}
    if inner is Any:
        return {}
    if inner is bool:
        schema = {"type": "boolean"}
    elif inner is int:
        schema = {"type": "integer"}
    elif inner is float:
        schema = {"type": "number"}
    elif inner is str:
        schema = {"type": "string"}
    elif origin in (list, tuple) or inner in (list, tuple):
        schema = {"type": "array"}
        if args:
            schema["items"] = annotation_schema(args[0])
    elif origin is dict or inner is dict:
        schema = {"type": "object"}
    else:
        raise TypeError(f"no JSON Schema for config annotation {annotation!r}")
    if optional:
        schema["type"] = [schema["type"], "null"]
    return schema


def section_schema(section_cls: type, instance: Any = None) -> dict:
    """Schema of a Section class; `instance` supplies the defaults (a default-constructed one when None)."""
    from robokit.config.section import Section  # section.py imports this module lazily, too

    if not (isinstance(section_cls, type) and issubclass(section_cls, Section)):
        raise TypeError(f"section_schema expects a Section subclass, got {section_cls!r}")
    instance = section_cls() if instance is None else instance
    properties = {}
    for name, spec in section_cls._specs.items():
        value = getattr(instance, name)
        if spec.section_type is not None:
            prop = section_schema(type(value), value)
        else:
            prop = annotation_schema(spec.annotation)
            prop["default"] = _plain(value)
            if spec.minimum is not None:
                prop["minimum"] = spec.minimum
            if spec.maximum is not None:
                prop["maximum"] = spec.maximum
        prop["description"] = spec.help
        properties[name] = prop
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if section_cls.__doc__:
        schema["title"] = section_cls.__doc__.strip().splitlines()[0]
    return schema


def config_schema(config_cls: type) -> dict:
    """Schema of a whole config class (a registered `BaseConfig` subclass), with its `algo_name` constant."""
    schema = section_schema(config_cls)
    algo_name = getattr(config_cls, "ALGO_NAME", None)
    if algo_name is not None:
        schema["properties"] = {
            "algo_name": {"const": algo_name, "description": "registered algorithm name"},
            **schema["properties"],
        }
        schema["$id"] = f"robokit:config/{algo_name}"
    return {"$schema": SCHEMA_DIALECT, **schema}


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
