"""SASRec as RecBole implements it: prefix-augmented samples, CE over all items at the last position."""

from llmrec_benchmark.engine.tuning import DROPOUT, LEARNING_RATE, WEIGHT_DECAY
from llmrec_benchmark.method import MethodCard
from llmrec_methods.recbole_zoo import RecBoleSequential, recbole_defaults


class SASRec(RecBoleSequential):
    recbole_model = "SASRec"
    card = MethodCard(
        name="sasrec",
        title="Self-Attentive Sequential Recommendation (RecBole model class)",
        fidelity="library-model",
        paper="Kang & McAuley, ICDM 2018",
        arxiv="1808.09781",
        authors="Wang-Cheng Kang, Julian McAuley",
        year=2018,
        defaults=recbole_defaults(
            n_layers=2, n_heads=2, hidden_size=64, inner_size=256, hidden_dropout_prob=0.5,
            attn_dropout_prob=0.5, hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=0.02,
            loss_type="CE",
        ),
        deviations=(
            "RecBole's variant: every training prefix is a sample and the loss is full-softmax CE at the "
            "last position only (the paper uses BCE with one negative at every position).",
        ),
        search_space={"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "hidden_dropout_prob": DROPOUT, "attn_dropout_prob": DROPOUT},
        description=(
            "RecBole 1.2.1's SASRec trained by this suite's loop: a causal self-attention encoder over the history, with RecBole's default loss and hyper-parameters."
        ),
    )
