"""Caser as RecBole implements it; its window ``L`` is a model hyper-parameter (paper: L=5)."""

from llmrec_benchmark.engine.tuning import DROPOUT, LEARNING_RATE, WEIGHT_DECAY
from llmrec_benchmark.method import MethodCard, RunContext
from llmrec_methods.recbole_zoo import RecBoleSequential, recbole_defaults


class Caser(RecBoleSequential):
    recbole_model = "Caser"
    harness_keys = RecBoleSequential.harness_keys + ("window",)
    card = MethodCard(
        name="caser",
        title="Convolutional Sequence Embedding Recommendation (RecBole model class)",
        fidelity="library-model",
        paper="Tang & Wang, WSDM 2018",
        arxiv="1809.07426",
        authors="Jiaxi Tang, Ke Wang",
        year=2018,
        defaults=recbole_defaults(
            embedding_size=64, dropout_prob=0.4, reg_weight=1e-4, nv=4, nh=8, loss_type="CE", window=5
        ),
        deviations=(
            "RecBole's variant: full-softmax CE on prefix-augmented samples (the paper uses BCE with "
            "sampled negatives and T target items).",
            "The convolution window is min(window, profile max_history) most recent items.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "dropout_prob": DROPOUT},
        description=(
            "RecBole 1.2.1's Caser trained by this suite's loop: horizontal and vertical convolutions over the embedding matrix of the last `window` items plus a user embedding."
        ),
    )

    def sequence_length(self, ctx: RunContext) -> int:
        return min(int(self.config["window"]), ctx.max_history)
