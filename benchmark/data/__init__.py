"""Data layer: dataset cards, download and conversion, loading through RecBole, the
leave-one-out split and the candidate sets. Imports only the foundation modules
(``errors``, ``paths``, ``schema``)."""
