"""The read-only forwards (``methods.llm.read_forward`` for the shared-prefix batches of DELRec and
LLM-TRSR, ``methods.llm.decoder_reads`` for DARec/MixRec's item boundaries) equal HF's forward
where it is read: the last layer computes only the read columns and the other layers split
attention where the mask stops being causal, which must change no value and no gradient."""

from __future__ import annotations

import pytest
import torch

from llmrec_methods.delrec.prompts import DelrecPrompts
from llmrec_methods.llm.backbone import load_backbone
from llmrec_methods.llm.read_forward import hidden_at, read_columns
from llmrec_methods.llm.yesno import packed_hidden

TITLES = ("",) + tuple(f"film number {i} ({1990 + i})" for i in range(1, 13))


def _batch(tokenizer):
    """Three rows whose prompts differ in length (histories of 1, 3 and 5 items)."""
    prompts = DelrecPrompts(tokenizer, TITLES, 12, soft_tokens=0)
    history = torch.tensor([[1, 0, 0, 0, 0], [2, 3, 4, 0, 0], [5, 6, 7, 8, 9]])
    candidates = torch.tensor([[10, 11, 12], [1, 5, 9], [2, 3, 12]])
    return prompts.recommend(torch.tensor([0, 1, 2]), history, candidates)


def _at(hidden, columns):
    """``hidden`` [B, T, H] read at ``columns`` [B, Q]."""
    return torch.gather(hidden, 1, columns.unsqueeze(-1).expand(-1, -1, hidden.size(-1)))


def _lora(model):
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, init_lora_weights=False))
    return peft.base_model.model


def test_hidden_states_at_the_read_columns_equal_hf_forward(tmp_path):
    backbone = load_backbone("tiny", tmp_path, layers=2)
    packed = _batch(backbone.tokenizer)
    assert packed.prefix_length.unique().numel() == 3  # the causal split point is a real boundary
    lm = _lora(backbone.model).eval()
    columns = read_columns(packed)
    with torch.no_grad():
        embeds = lm.get_input_embeddings()(packed.input_ids)
        reference = packed_hidden(lm, packed, embeds)
        fast = hidden_at(lm, packed, embeds, columns)
    expected = _at(reference, columns)
    assert fast.shape == expected.shape
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-5)
    assert bool((columns[:, 0] == packed.prefix_length - 1).all())  # each row's last prompt column first


def test_adapter_gradients_equal_hf_forward(tmp_path):
    backbone = load_backbone("tiny", tmp_path, layers=2)
    packed = _batch(backbone.tokenizer)
    lm = _lora(backbone.model).train()
    columns = read_columns(packed)
    adapters = [p for p in lm.parameters() if p.requires_grad]
    weights = torch.randn(*columns.shape, lm.config.hidden_size, generator=torch.Generator().manual_seed(1))

    def gradients(hidden):
        lm.zero_grad(set_to_none=True)
        (hidden * weights).sum().backward()
        return [p.grad.clone() for p in adapters]

    embeds = lm.get_input_embeddings()(packed.input_ids)
    reference = packed_hidden(lm, packed, embeds)
    expected = gradients(_at(reference, columns))
    got = gradients(hidden_at(lm, packed, lm.get_input_embeddings()(packed.input_ids), columns))
    assert len(got) == 8 and all(g.abs().sum() > 0 for g in got)  # q and v adapters of both layers train
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_llm_trsr_answer_reads_equal_the_full_yes_no_forward(tmp_path):
    from llmrec_methods.llm.yesno import YesNoLM
    from llmrec_methods.llm_trsr.answer_reads import AnswerReadYesNoLM

    backbone = load_backbone("tiny", tmp_path, layers=2)
    packed = _batch(backbone.tokenizer)
    lm = _lora(backbone.model).train()
    labels = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]])
    full, fast = YesNoLM(lm, 5, 6), AnswerReadYesNoLM(lm, 5, 6)
    adapters = [p for p in lm.parameters() if p.requires_grad]
    results = []
    for model in (full, fast):
        lm.zero_grad(set_to_none=True)
        loss = model.loss(packed, labels, "answer", separator=7)
        loss.backward()
        with torch.no_grad():
            scores = model.answer_scores(packed)
        results.append((loss.detach(), scores, [p.grad.clone() for p in adapters]))
    (loss_a, scores_a, grads_a), (loss_b, scores_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scores_b, scores_a, atol=1e-5, rtol=1e-5)
    for a, b in zip(grads_b, grads_a):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert fast.tokens_seen == full.tokens_seen


def _item_model(tmp_path, block_causal: bool, collab: bool):
    from llmrec_methods.llm.collab import CollabEncoder
    from llmrec_methods.llm.itemrec import ItemLevelLM
    from llmrec_methods.llm.prompts import ItemTokenTable

    backbone = load_backbone("tiny", tmp_path, layers=2)
    table = ItemTokenTable(TITLES, backbone.tokenizer, 6)
    torch.manual_seed(0)
    encoder = CollabEncoder(len(TITLES), 4, backbone.hidden_size) if collab else None
    return ItemLevelLM(_lora(backbone.model), table, len(TITLES), block_causal, encoder)


def _reference_boundary_states(model, recent, long_items, long_lengths):
    """HF's forward over every column under the same mask, read at the boundaries."""
    from llmrec_methods.llm.prompts import additive_mask, attention_allowed

    tokens = model.table.build(recent)
    embeds = model.decoder.embed_tokens(tokens.input_ids)
    spans, boundaries = tokens.spans, tokens.boundaries
    if model.collab is not None:
        token, _ = model.collab(long_items, long_lengths)
        embeds = torch.cat([token.unsqueeze(1), embeds], 1)
        spans = torch.cat([torch.zeros_like(spans[:, :1]), spans], 1)
        boundaries = torch.where(boundaries >= 0, boundaries + 1, -1)
    mask = additive_mask(attention_allowed(spans, model.block_causal), embeds.dtype)
    positions = torch.arange(spans.size(1)).expand(spans.size(0), -1)
    hidden = model.decoder(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state
    return _at(hidden, boundaries.clamp(min=0))


@pytest.mark.parametrize("block_causal,collab", [(True, True), (False, False), (True, False), (False, True)])
def test_item_boundary_states_and_gradients_equal_hf_forward(tmp_path, block_causal, collab):
    """DARec/MixRec read only the item boundaries: with and without the block-causal mask and the
    collaborative token, states and adapter gradients equal HF's full forward."""
    model = _item_model(tmp_path, block_causal, collab).train()
    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    if model.collab is not None:
        model.collab.eval()  # its attention dropout is not an nn.Dropout; the CF side is not under test
    recent = torch.tensor([[1, 2, 0, 0], [3, 4, 5, 6], [7, 8, 9, 0]])  # rows of 2, 4 and 3 items
    long_items = torch.tensor([[10, 11, 0, 0], [12, 1, 2, 3], [4, 0, 0, 0]])
    long_lengths = torch.tensor([2, 4, 1])
    trained = [p for p in model.parameters() if p.requires_grad]
    results = []
    for states_of in (lambda: model.boundary_states(recent, long_items, long_lengths)[0],
                      lambda: _reference_boundary_states(model, recent, long_items, long_lengths)):
        model.zero_grad(set_to_none=True)
        states = states_of()
        weights = torch.randn(states.shape, generator=torch.Generator().manual_seed(3))
        (states * weights).sum().backward()
        results.append((states.detach(), [p.grad.clone() if p.grad is not None else None for p in trained]))
    (fast, fast_grads), (expected, expected_grads) = results
    torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-5)
    assert sum(g is not None and bool(g.abs().sum() > 0) for g in fast_grads) >= 8
    for a, b in zip(fast_grads, expected_grads):
        assert (a is None) == (b is None)
        if a is not None:  # fp32 sums in another order: allow 1e-4 against gradients of order 1
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_item_scoring_reads_only_the_last_boundary_with_the_same_states(tmp_path):
    """Scoring asks for each row's last boundary only: the same states as reading them all."""
    model = _item_model(tmp_path, True, True).eval()
    recent = torch.tensor([[1, 2, 0, 0], [3, 4, 5, 6], [7, 8, 9, 0]])
    long_items = torch.tensor([[10, 11, 0, 0], [12, 1, 2, 3], [4, 0, 0, 0]])
    long_lengths = torch.tensor([2, 4, 1])
    last = torch.tensor([[1], [3], [2]])
    with torch.no_grad():
        every, _, _ = model.boundary_states(recent, long_items, long_lengths)
        only_last, _, _ = model.boundary_states(recent, long_items, long_lengths, slots=last)
    assert only_last.shape == (3, 1, every.size(-1))
    torch.testing.assert_close(only_last[:, 0], every[torch.arange(3), last[:, 0]], atol=1e-5, rtol=1e-5)
