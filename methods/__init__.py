"""Built-in methods. ``BUILTIN_METHODS`` is the explicit registry table (name -> "module:Class");
classes are imported only when used. Plugins register through the ``benchmark.methods`` entry-point
group instead. A method never imports another method's internals; shared building blocks live in
modules such as ``methods.sequential_data`` and ``methods.recbole_zoo``.
"""

BUILTIN_METHODS: dict[str, str] = {
    "random": "methods.random_baseline:RandomScores",
    "pop": "methods.pop:Pop",
    "sasrec": "methods.sasrec:SASRec",
    "sasrec-ce": "methods.sasrec_ce:SASRecCE",
    "sasrec-sampled": "methods.sasrec_sampled:SASRecSampled",
    "gru4rec": "methods.gru4rec:GRU4Rec",
    "bert4rec": "methods.bert4rec:BERT4Rec",
    "caser": "methods.caser:Caser",
    "darec": "methods.darec:DARec",
    "mixrec": "methods.mixrec:MixRec",
    "llm-trsr": "methods.llm_trsr:LLMTRSR",
    "delrec": "methods.delrec:DELRec",
}
