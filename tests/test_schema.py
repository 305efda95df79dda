"""Tool schemas from type hints and docstrings, and validation of the model's arguments."""

import dataclasses
import enum
import json
import typing
from typing import Annotated, Any, Dict, List, Literal, Optional  # noqa: UP035

import pytest
from pydantic import BaseModel, Field

from webagents.agents.skills.schema import FunctionSchema, ToolArgumentsError, function_schema
from webagents.context import Context
from webagents.errors import DefinitionError


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Address(BaseModel):
    street: str
    zip_code: int


@dataclasses.dataclass
class Point:
    x: float
    y: float


def lookup(order_id: str, verbose: bool = False) -> Dict:  # noqa: UP006
    """Find an order.

    Looks the order up in the shop database.

    Args:
        order_id: The order number, e.g. "A-17".
        verbose: Include the line items.
    """
    return {}


def ship(address: Address, color: Color, note: Optional[str] = None, count: int = 1) -> str:  # noqa: UP045
    return ""


def props(schema: FunctionSchema) -> dict[str, Any]:
    return typing.cast(dict[str, Any], schema.parameters["properties"])


# --- schema output -------------------------------------------------------------------------------


def test_scalar_types_and_required() -> None:
    def tool(s: str, i: int, f: float, b: bool, opt: str = "x") -> None:
        pass

    schema = function_schema(tool)
    assert schema.parameters["type"] == "object"
    assert schema.parameters["additionalProperties"] is False
    assert schema.parameters["required"] == ["s", "i", "f", "b"]
    types = {name: prop.get("type") for name, prop in props(schema).items()}
    assert types == {"s": "string", "i": "integer", "f": "number", "b": "boolean", "opt": "string"}
    assert props(schema)["opt"]["default"] == "x"


def test_no_pydantic_titles_at_top_level_or_on_properties() -> None:
    schema = function_schema(ship)
    assert "title" not in schema.parameters
    assert all("title" not in prop for prop in props(schema).values())


def test_optional_list_dict_and_typing_aliases() -> None:
    def tool(
        a: int | None,
        b: Optional[str],  # noqa: UP045
        c: list[int],
        d: dict[str, float],
        e: List[str],  # noqa: UP006
        f: Dict[str, int],  # noqa: UP006
    ) -> Dict:  # noqa: UP006
        return {}

    p = props(function_schema(tool))
    assert p["a"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    assert p["b"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert p["c"] == {"type": "array", "items": {"type": "integer"}}
    assert p["d"] == {"type": "object", "additionalProperties": {"type": "number"}}
    assert p["e"] == {"type": "array", "items": {"type": "string"}}
    assert p["f"] == {"type": "object", "additionalProperties": {"type": "integer"}}


def test_literal_enum_model_and_dataclass() -> None:
    def tool(mode: Literal["fast", "slow"], color: Color, address: Address, point: Point) -> None:
        pass

    schema = function_schema(tool)
    p = props(schema)
    assert p["mode"]["enum"] == ["fast", "slow"]
    defs = schema.parameters["$defs"]
    assert p["color"] == {"$ref": "#/$defs/Color"}
    assert defs["Color"]["enum"] == ["red", "blue"]
    assert p["address"] == {"$ref": "#/$defs/Address"}
    assert set(defs["Address"]["properties"]) == {"street", "zip_code"}
    assert p["point"] == {"$ref": "#/$defs/Point"}
    assert defs["Point"]["required"] == ["x", "y"]


def test_unannotated_parameter_is_any() -> None:
    def tool(anything, n: int = 0):  # type: ignore[no-untyped-def]
        pass

    schema = function_schema(tool)
    assert "type" not in props(schema)["anything"]
    assert schema.validate({"anything": [1, "two"]}) == {"anything": [1, "two"], "n": 0}


def test_name_description_and_param_docs_from_docstring() -> None:
    schema = function_schema(lookup)
    assert schema.name == "lookup"
    assert schema.description == "Find an order.\n\nLooks the order up in the shop database."
    assert "Args" not in schema.description
    assert props(schema)["order_id"]["description"] == 'The order number, e.g. "A-17".'
    assert props(schema)["verbose"]["description"] == "Include the line items."
    assert props(schema)["verbose"]["default"] is False
    assert schema.parameters["required"] == ["order_id"]


def test_name_and_description_overrides_and_missing_docstring() -> None:
    assert function_schema(ship).description == ""
    schema = function_schema(lookup, name="find_order", description="Custom.")
    assert (schema.name, schema.description) == ("find_order", "Custom.")
    assert props(schema)["order_id"]["description"].startswith("The order number")


def test_annotated_field_description_survives_undocumented_parameter() -> None:
    def tool(n: Annotated[int, Field(description="How many.", ge=1)]) -> None:
        pass

    schema = function_schema(tool)
    assert props(schema)["n"] == {"type": "integer", "minimum": 1, "description": "How many."}
    with pytest.raises(ToolArgumentsError, match="n: Input should be greater than or equal to 1"):
        schema.validate('{"n": 0}')


def test_no_parameters() -> None:
    def ping() -> str:
        return "pong"

    schema = function_schema(ping)
    assert schema.parameters["properties"] == {}
    assert schema.parameters["required"] == []
    assert schema.validate("") == {}
    assert schema.validate(None) == {}


def test_openai_tool_format() -> None:
    schema = function_schema(lookup)
    assert schema.openai_tool() == {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": schema.description,
            "parameters": schema.parameters,
        },
    }
    json.dumps(schema.openai_tool())  # must be sendable as is


# --- context, methods, async ---------------------------------------------------------------------


def test_context_parameter_is_found_by_annotation_not_name() -> None:
    def tool(query: str, context: Context) -> None:
        pass

    schema = function_schema(tool)
    assert schema.context_param == "context"
    assert list(props(schema)) == ["query"]
    with pytest.raises(ToolArgumentsError, match="context: unexpected argument"):
        schema.validate({"query": "q", "context": {}})


@pytest.mark.parametrize(
    ("annotation", "value"),
    [("str", "shoes"), ("dict[str, str]", {"size": "42"}), ("Any", [1]), ("Optional[str]", None)],
)
def test_a_parameter_named_context_with_another_type_is_the_models(
    annotation: str, value: object
) -> None:
    namespace: dict[str, Any] = {}
    exec(
        "from typing import Any, Optional\n"
        f"def search(query: str, context: {annotation}) -> None:\n    pass\n",
        namespace,
    )
    schema = function_schema(namespace["search"])
    assert schema.context_param is None
    assert list(props(schema)) == ["query", "context"]
    assert schema.parameters["required"] == ["query", "context"]
    assert schema.validate({"query": "q", "context": value}) == {"query": "q", "context": value}


def test_an_unannotated_parameter_named_context_shows_the_fix() -> None:
    def tool(query: str, context) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(DefinitionError) as info:
        function_schema(tool)
    message = str(info.value)
    assert "tool test_an_unannotated_parameter_named_context_shows_the_fix.<locals>.tool" in message
    assert "`context: Context`" in message
    assert "from webagents import Context" in message
    assert "`context: str`" in message


def test_context_parameter_by_annotation_is_excluded() -> None:
    def tool(ctx: Context, query: str) -> None:
        pass

    def optional(query: str, run: Context | None = None) -> None:
        pass

    class ShopContext(Context):
        __slots__ = ()

    def subclass(query: str, shop: ShopContext) -> None:
        pass

    def annotated(query: str, run: Annotated[Context, "the run"]) -> None:
        pass

    cases = ((tool, "ctx"), (optional, "run"), (subclass, "shop"), (annotated, "run"))
    for func, param in cases:
        schema = function_schema(func)
        assert schema.context_param == param
        assert list(props(schema)) == ["query"]
        assert schema.parameters["required"] == ["query"]
    assert function_schema(ship).context_param is None


def test_two_context_parameters_are_rejected() -> None:
    def tool(context: Context, other: Context) -> None:
        pass

    with pytest.raises(TypeError, match="two context parameters"):
        function_schema(tool)


class Shop:
    def find(self, item: str, context: Context) -> str:
        """Find an item."""
        return item

    async def order(self, item: str) -> str:
        return item


def test_skip_first_for_unbound_methods_and_bound_methods() -> None:
    unbound = function_schema(Shop.find, skip_first=True)
    assert list(props(unbound)) == ["item"]
    assert unbound.context_param == "context"
    bound = function_schema(Shop().find)
    assert list(props(bound)) == ["item"]
    assert bound.description == "Find an item."
    assert list(props(function_schema(Shop.find))) == ["self", "item"]


def test_async_detection() -> None:
    assert function_schema(Shop.order, skip_first=True).is_async is True
    assert function_schema(Shop().order).is_async is True
    assert function_schema(lookup).is_async is False


# --- validation ----------------------------------------------------------------------------------


def test_validate_converts_to_annotated_types_and_fills_defaults() -> None:
    schema = function_schema(ship)
    args = schema.validate('{"address": {"street": "Main", "zip_code": "12345"}, "color": "blue"}')
    assert args == {
        "address": Address(street="Main", zip_code=12345),
        "color": Color.BLUE,
        "note": None,
        "count": 1,
    }
    assert isinstance(args["address"], Address)  # shallow: nested models stay instances
    assert args["color"] is Color.BLUE


def test_validate_mapping_optional_none_and_dataclass() -> None:
    def tool(point: Point, label: str | None = "x") -> None:
        pass

    schema = function_schema(tool)
    args = schema.validate({"point": {"x": 1, "y": 2.5}, "label": None})
    assert args == {"point": Point(1.0, 2.5), "label": None}
    assert isinstance(args["point"], Point)


def test_parameter_names_that_are_not_valid_pydantic_fields() -> None:
    def tool(json: str, _private: int = 0, model_config: bool = False) -> None:
        pass

    schema = function_schema(tool)
    assert list(props(schema)) == ["json", "_private", "model_config"]
    assert schema.validate('{"json": "a", "_private": 2}') == {
        "json": "a",
        "_private": 2,
        "model_config": False,
    }


def test_missing_field() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        function_schema(lookup).validate("{}")
    assert str(info.value) == "invalid arguments for tool 'lookup': order_id: Field required"


def test_wrong_types_report_every_field_path() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        function_schema(ship).validate({"address": {"street": "Main", "zip_code": "x"}, "color": 3})
    message = str(info.value)
    assert message.startswith("invalid arguments for tool 'ship': address.zip_code: ")
    assert "; color: Input should be 'red' or 'blue'" in message


def test_unknown_field() -> None:
    with pytest.raises(ToolArgumentsError) as info:
        function_schema(lookup).validate('{"order_id": "A", "limit": 3}')
    assert str(info.value) == "invalid arguments for tool 'lookup': limit: unexpected argument"


def test_malformed_json() -> None:
    with pytest.raises(ToolArgumentsError, match=r"tool 'lookup': not valid JSON \(.+\)$"):
        function_schema(lookup).validate('{"order_id": ')


def test_non_object_json() -> None:
    for text in ('["A-17"]', '"A-17"'):
        with pytest.raises(ToolArgumentsError) as info:
            function_schema(lookup).validate(text)
        assert str(info.value) == (
            "invalid arguments for tool 'lookup': arguments must be a JSON object"
        )


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        function_schema(lookup).validate("[]")


# --- definition errors ---------------------------------------------------------------------------


def test_var_args_and_kwargs_are_rejected() -> None:
    def star(query: str, *args: str) -> None:
        pass

    def double_star(query: str, **kwargs: str) -> None:
        pass

    with pytest.raises(TypeError, match=r"star.*\*args parameter 'args'.*named parameter"):
        function_schema(star)
    with pytest.raises(TypeError, match=r"double_star.*\*\*kwargs parameter 'kwargs'"):
        function_schema(double_star)


# --- string annotations (from __future__ import annotations) -------------------------------------

FUTURE_MODULE = '''
from __future__ import annotations

from typing import Dict
from pydantic import BaseModel
from webagents.context import Context


class Item(BaseModel):
    name: str


def add(item: Item, ctx: Context, quantity: int | None = None) -> Dict:
    """Add an item.

    Args:
        item: What to add.
    """
    return {}


def later(thing: NotYetDefined) -> None:
    pass
'''


def test_string_annotations_are_resolved() -> None:
    namespace: dict[str, Any] = {"__name__": "future_tools"}
    exec(compile(FUTURE_MODULE, "future_tools.py", "exec"), namespace)
    schema = function_schema(namespace["add"])
    assert schema.context_param == "ctx"
    assert props(schema)["item"] == {"$ref": "#/$defs/Item", "description": "What to add."}
    assert props(schema)["quantity"]["anyOf"] == [{"type": "integer"}, {"type": "null"}]
    args = schema.validate('{"item": {"name": "pen"}}')
    assert isinstance(args["item"], namespace["Item"])
    assert args["quantity"] is None


def test_unresolved_string_annotation_raises_name_error_until_defined() -> None:
    namespace: dict[str, Any] = {"__name__": "future_tools"}
    exec(compile(FUTURE_MODULE, "future_tools.py", "exec"), namespace)
    with pytest.raises(NameError, match=r"later.*NotYetDefined"):
        function_schema(namespace["later"])
    namespace["NotYetDefined"] = int
    assert props(function_schema(namespace["later"]))["thing"]["type"] == "integer"
