"""The server shells: the Pyro5-exposed service classes, their background loops and the
daemon that hosts them. A shell checks and translates; the decisions are the domain's."""
