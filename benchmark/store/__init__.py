"""Store layer: result records (append-only, atomic), their provenance, where a command's records
live, a record's status (converged, capped, stale) and the code hash that tells a current record
from a stale one. Imports only the foundation modules."""
