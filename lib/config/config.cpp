// Placeholder: replaced by the config module.
