"""marshmallow schemas: ``<Resource>Schema`` out, ``<Action>Schema`` / ``...QueryArgsSchema`` in."""
