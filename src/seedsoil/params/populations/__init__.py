"""Fitted populations shipped with seedsoil (JSON files; :mod:`seedsoil.fit.fitted`)."""
