"""How a run's method is named in tables, plots and logs."""


def method_label(method: str, control: str) -> str:
    """The method, or method+control for a control run (e.g. ``imp+shuffle``)."""
    return method if control == "none" else f"{method}+{control}"
