"""A learner's correct answers to the chapter 14 exercises, as the solutions notebook writes them; the check tests
start from these and break one thing at a time."""
import math, torch, torch.nn.functional as F
from mlcourse.training.loop import sample_windows
from mlcourse.model.transformer import KVCache
from mlcourse.model.parts import apply_rope
from mlcourse.model.gqa_attention import repeat_kv

def my_lr_at(step, max_lr, min_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))

def my_parameter_groups(model, weight_decay):
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]

def my_train(model, train_ids, val_ids, config):
    c = config
    optimizer = torch.optim.AdamW(my_parameter_groups(model, c.weight_decay), lr=c.lr, betas=c.betas)
    sampler = torch.Generator().manual_seed(c.seed)
    val_windows = sample_windows(val_ids, c.eval_batches * c.batch_size, c.seq_len, torch.Generator().manual_seed(c.seed + 1))
    def evaluate():
        model.eval()
        with torch.no_grad():
            losses = []
            for i in range(0, len(val_windows), c.batch_size):
                w = val_windows[i:i + c.batch_size]
                logits = model(w[:, :-1])
                losses.append(F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten()).item())
        model.train()
        return sum(losses) / len(losses)
    history = {"train_loss": [], "val_loss": {0: evaluate()}}
    for step in range(c.steps):
        lr = my_lr_at(step, c.lr, c.min_lr, c.warmup_steps, c.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        window = sample_windows(train_ids, c.batch_size, c.seq_len, sampler)
        logits = model(window[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1), window[:, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), c.grad_clip)
        optimizer.step()
        history["train_loss"].append(loss.item())
        if (step + 1) % c.eval_every == 0 or step + 1 == c.steps:
            history["val_loss"][step + 1] = evaluate()
    return history

def my_save(folder, model, optimizer, sampler, step):
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "sampler": sampler.get_state(),
                "rng": torch.get_rng_state(), "step": step}, folder / "checkpoint.pt")

def my_load(folder, model, optimizer, sampler):
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    model.load_state_dict(state["model"]); optimizer.load_state_dict(state["optimizer"])
    sampler.set_state(state["sampler"]); torch.set_rng_state(state["rng"])
    return state["step"]

def my_filter_logits(logits, top_k=None, top_p=None):
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(-1)
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits

def _next(logits, temperature, top_k, top_p, generator):
    if temperature == 0:
        return logits.argmax(-1, keepdim=True)
    probs = my_filter_logits(logits / temperature, top_k, top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator)

@torch.no_grad()
def my_generate(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    ids = prompt_ids
    for _ in range(max_new_tokens):
        logits = model(ids[:, -model.config.max_seq_len:])[:, -1, :]
        ids = torch.cat([ids, _next(logits, temperature, top_k, top_p, generator)], dim=1)
    return ids

def my_attention_step(layer, rotary, x, past_k, past_v):
    B, T, _ = x.shape
    T_past = 0 if past_k is None else past_k.shape[2]
    q = layer.q_proj(x).view(B, T, layer.num_heads, layer.d_head).transpose(1, 2)
    k = layer.k_proj(x).view(B, T, layer.num_kv_heads, layer.d_head).transpose(1, 2)
    v = layer.v_proj(x).view(B, T, layer.num_kv_heads, layer.d_head).transpose(1, 2)
    cos, sin = rotary(torch.arange(T_past, T_past + T))
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    if past_k is not None:
        k, v = torch.cat([past_k, k], dim=2), torch.cat([past_v, v], dim=2)
    T_k = k.shape[2]
    mask = torch.ones(T_k, T_k, dtype=torch.bool).tril()[T_k - T:]
    out = F.scaled_dot_product_attention(q, repeat_kv(k, layer.groups), repeat_kv(v, layer.groups), attn_mask=mask)
    return layer.o_proj(out.transpose(1, 2).reshape(B, T, -1)), k, v

@torch.no_grad()
def my_generate_cached(model, prompt_ids, max_new_tokens, temperature=1.0, top_k=None, top_p=None, generator=None):
    cache = KVCache(len(model.layers))
    ids = prompt_ids
    logits = model(ids, cache=cache)[:, -1, :]
    for _ in range(max_new_tokens):
        ids = torch.cat([ids, _next(logits, temperature, top_k, top_p, generator)], dim=1)
        logits = model(ids[:, -1:], cache=cache)[:, -1, :]
    return ids
