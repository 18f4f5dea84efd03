"""Built-in methods, imported as ``llmrec_methods`` (the repository's ``methods/`` folder).
``BUILTIN_METHODS`` is the explicit registry table (name -> "module:Class"); classes are imported
only when used. Plugins register through the ``llmrec_benchmark.methods`` entry-point group
instead. A method never imports another method's internals; shared building blocks live in
modules such as ``llmrec_methods.sequential_data`` and ``llmrec_methods.recbole_zoo``.
"""

BUILTIN_METHODS: dict[str, str] = {
    "random": "llmrec_methods.random_baseline:RandomScores",
    "pop": "llmrec_methods.pop:Pop",
    "sasrec": "llmrec_methods.sasrec:SASRec",
    "sasrec-ce": "llmrec_methods.sasrec_ce:SASRecCE",
    "sasrec-sampled": "llmrec_methods.sasrec_sampled:SASRecSampled",
    "sasrec-original": "llmrec_methods.sasrec_original:SASRecOriginal",
    "gru4rec": "llmrec_methods.gru4rec:GRU4Rec",
    "bert4rec": "llmrec_methods.bert4rec:BERT4Rec",
    "caser": "llmrec_methods.caser:Caser",
    "darec": "llmrec_methods.darec:DARec",
    "mixrec": "llmrec_methods.mixrec:MixRec",
    "llm-trsr": "llmrec_methods.llm_trsr:LLMTRSR",
    "delrec": "llmrec_methods.delrec:DELRec",
}
