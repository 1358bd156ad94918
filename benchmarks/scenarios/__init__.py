"""One benchmark scenario per module; each defines ``measure(ctx) -> ScenarioResult``."""
