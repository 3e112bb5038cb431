"""Export targets, one module each. A target module defines a class with `name`, `suffix`,
`precisions` and `lower(...)`, and registers it with @register_target."""
