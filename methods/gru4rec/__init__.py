"""GRU4Rec as RecBole implements it (CE over all items, prefix-augmented samples)."""

from benchmark.method import MethodCard
from benchmark.tuning import LEARNING_RATE, WEIGHT_DECAY, DROPOUT
from methods.recbole_zoo import RecBoleSequential, recbole_defaults


class GRU4Rec(RecBoleSequential):
    recbole_model = "GRU4Rec"
    card = MethodCard(
        name="gru4rec",
        title="Session-based recommendations with recurrent neural networks (RecBole model class)",
        fidelity="library-model",
        paper="Hidasi et al., ICLR 2016",
        arxiv="1511.06939",
        authors="Balázs Hidasi, Alexandros Karatzoglou, Linas Baltrunas, Domonkos Tikk",
        year=2016,
        defaults=recbole_defaults(embedding_size=64, hidden_size=128, num_layers=1, dropout_prob=0.3, loss_type="CE"),
        deviations=(
            "RecBole's variant: full-softmax CE on prefix-augmented samples instead of the paper's "
            "session-parallel mini-batches with sampled ranking losses.",
        ),
        search_space={"learning_rate": LEARNING_RATE, "weight_decay": WEIGHT_DECAY, "dropout_prob": DROPOUT},
        description=(
            "RecBole 1.2.1's GRU4Rec trained by this suite's loop: a GRU over the item sequence whose last state scores every item."
        ),
    )
