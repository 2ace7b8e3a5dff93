"""Built-in node types, one module each; ``builtin_node_types()`` lists them for the registry."""

from __future__ import annotations

from nexus.engine.nodes.registry import NodeType


def builtin_node_types() -> list[NodeType]:
    from nexus.engine.nodes.agent import AgentNode
    from nexus.engine.nodes.approval import ApprovalNode
    from nexus.engine.nodes.code import CodeNode
    from nexus.engine.nodes.condition import ConditionNode
    from nexus.engine.nodes.delay import DelayNode
    from nexus.engine.nodes.http import HttpNode
    from nexus.engine.nodes.input import InputNode
    from nexus.engine.nodes.llm import LLMNode
    from nexus.engine.nodes.loop import LoopNode
    from nexus.engine.nodes.merge import MergeNode
    from nexus.engine.nodes.output import OutputNode
    from nexus.engine.nodes.subworkflow import SubworkflowNode
    from nexus.engine.nodes.switch import SwitchNode
    from nexus.engine.nodes.tool import ToolNode
    from nexus.engine.nodes.transform import TransformNode

    return [
        InputNode(),
        OutputNode(),
        TransformNode(),
        ConditionNode(),
        SwitchNode(),
        MergeNode(),
        DelayNode(),
        LoopNode(),
        ApprovalNode(),
        LLMNode(),
        AgentNode(),
        ToolNode(),
        HttpNode(),
        SubworkflowNode(),
        CodeNode(),
    ]
