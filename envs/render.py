"""Text and rich renderings of one round, with harmful text hidden unless asked for."""

from __future__ import annotations

from advgame.envs.tree import SeedNode


def mask(text: str, hidden: bool) -> str:
    """Return ``text``, or a placeholder that gives only its length when ``hidden``."""
    if not hidden:
        return text
    return f"[harmful round: {len(text)} characters hidden; pass show_harmful=True to show]"


def _score(value: float | None) -> str:
    return "excluded" if value is None else f"{value:.2f}"


def round_lines(node: SeedNode, phase: str, show_harmful: bool = False) -> list[str]:
    """Return the round as plain-text lines."""
    hidden = node.seed.is_harmful and not show_harmful
    category = f" / {node.seed.category}" if node.seed.category else ""
    lines = [
        f"seed [{node.seed.label}{category}] {mask(node.seed.text, hidden)}",
        f"phase: {phase}",
    ]
    for i, attack in enumerate(node.attacks):
        outcome = attack.outcome.value if attack.outcome else "pending"
        lines.append(f"attack {i}: {outcome}, reward {_score(attack.reward)}")
        if attack.attack is not None:
            lines.append(f"  prompt: {mask(attack.attack, hidden)}")
        elif attack.parsed is not None and attack.parsed.error:
            lines.append(f"  parse error: {attack.parsed.error}")
        for j, response in enumerate(attack.responses):
            chosen = " (chosen)" if attack.chosen_response == j else ""
            response_outcome = response.outcome.value if response.outcome else "pending"
            lines.append(
                f"  response {j}{chosen}: {response_outcome}, reward {_score(response.reward)}"
            )
            lines.append(f"    {mask(response.text, hidden)}")
    return lines


def render_node(node: SeedNode, phase: str, *, mode: str, show_harmful: bool = False) -> str | None:
    """Render ``node`` as text (``mode="ansi"``) or print it with rich (``mode="human"``)."""
    if mode == "ansi":
        return "\n".join(round_lines(node, phase, show_harmful))
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    body = Text("\n".join(round_lines(node, phase, show_harmful)))
    style = "red" if node.seed.is_harmful else "green"
    Console().print(Panel(body, title=f"advgame round ({node.seed.label})", border_style=style))
    return None
