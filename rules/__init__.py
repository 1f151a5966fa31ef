"""Pure domain rules that more than one service runs: no I/O, imports only `contracts`."""
