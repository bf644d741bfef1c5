"""Operating a deployment: the ``djframe`` command's options and ``worker`` sub-command (cli),
server-side settings (deploy), schema migrations (migrate), store garbage collection (gc)."""
