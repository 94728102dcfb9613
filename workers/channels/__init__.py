"""Channel adapters: the code that talks to the outside services (X, email, ...)."""
