"""A Trainer-style training and evaluation loop, in the manner of Hugging Face's Trainer and
accelerate scripts (written for the corpus benchmark)."""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader


class SimpleTrainer:
    def __init__(self, model, args, train_dataset, eval_dataset=None, data_collator=None):
        self.model = model
        self.args = args
        self.train_dataset = train_dataset
        self.eval_dataset = eval_dataset
        self.data_collator = data_collator
        self.optimizer = None
        self.lr_scheduler = None
        self.global_step = 0

    def create_optimizer(self):
        decay_parameters = [n for n, _ in self.model.named_parameters() if "bias" not in n and "norm" not in n]
        grouped = [
            {
                "params": [p for n, p in self.model.named_parameters() if n in decay_parameters and p.requires_grad],
                "weight_decay": self.args.weight_decay,
            },
            {
                "params": [p for n, p in self.model.named_parameters() if n not in decay_parameters and p.requires_grad],
                "weight_decay": 0.0,
            },
        ]
        self.optimizer = torch.optim.AdamW(grouped, lr=self.args.learning_rate, eps=self.args.adam_epsilon)
        return self.optimizer

    def create_scheduler(self, num_training_steps):
        def lr_lambda(step):
            if step < self.args.warmup_steps:
                return float(step) / float(max(1, self.args.warmup_steps))
            progress = float(step - self.args.warmup_steps) / float(max(1, num_training_steps - self.args.warmup_steps))
            return max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))

        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda)
        return self.lr_scheduler

    def compute_loss(self, model, inputs):
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        logits = outputs["logits"]
        loss_fct = nn.CrossEntropyLoss(ignore_index=-100)
        loss = loss_fct(logits.view(-1, logits.size(-1)), labels.view(-1))
        return loss

    def training_step(self, model, inputs):
        model.train()
        inputs = {k: v.to(self.args.device) for k, v in inputs.items()}
        loss = self.compute_loss(model, inputs)
        if self.args.gradient_accumulation_steps > 1:
            loss = loss / self.args.gradient_accumulation_steps
        loss.backward()
        return loss.detach()

    def train(self):
        train_dataloader = DataLoader(
            self.train_dataset, batch_size=self.args.train_batch_size, shuffle=True, collate_fn=self.data_collator
        )
        num_update_steps_per_epoch = max(len(train_dataloader) // self.args.gradient_accumulation_steps, 1)
        max_steps = math.ceil(self.args.num_train_epochs * num_update_steps_per_epoch)
        self.create_optimizer()
        self.create_scheduler(max_steps)
        tr_loss = torch.tensor(0.0, device=self.args.device)
        self.model.zero_grad()
        for epoch in range(int(self.args.num_train_epochs)):
            for step, inputs in enumerate(train_dataloader):
                tr_loss_step = self.training_step(self.model, inputs)
                tr_loss += tr_loss_step
                if (step + 1) % self.args.gradient_accumulation_steps == 0:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.args.max_grad_norm)
                    self.optimizer.step()
                    self.lr_scheduler.step()
                    self.model.zero_grad()
                    self.global_step += 1
            metrics = self.evaluate()
            print(f"epoch {epoch}: {metrics}")
        return tr_loss.item() / max(self.global_step, 1)

    def evaluate(self):
        eval_dataloader = DataLoader(self.eval_dataset, batch_size=self.args.eval_batch_size, collate_fn=self.data_collator)
        model = self.model
        model.eval()
        losses = []
        correct = 0
        total = 0
        for inputs in eval_dataloader:
            inputs = {k: v.to(self.args.device) for k, v in inputs.items()}
            with torch.no_grad():
                labels = inputs["labels"]
                outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
                logits = outputs["logits"]
                loss = nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1), ignore_index=-100)
            losses.append(loss.item())
            predictions = logits.argmax(dim=-1)
            valid = labels != -100
            correct += (predictions[valid] == labels[valid]).sum().item()
            total += valid.sum().item()
        eval_loss = sum(losses) / len(losses)
        return {"eval_loss": eval_loss, "perplexity": math.exp(eval_loss), "accuracy": correct / max(total, 1)}


def accelerate_train_loop(model, optimizer, train_dataloader, accelerator, lr_scheduler, accum_steps):
    model.train()
    for step, batch in enumerate(train_dataloader):
        outputs = model(**batch)
        loss = outputs.loss
        accelerator.backward(loss / accum_steps)
        if (step + 1) % accum_steps == 0:
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
