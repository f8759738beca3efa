"""A LightningModule-style image classifier with its steps (written for the corpus benchmark)."""

import torch
import torch.nn.functional as F
from torch import nn


class ConvNet(nn.Module):
    def __init__(self, num_classes=10, dropout=0.25):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(32)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(64)
        self.dropout = nn.Dropout(dropout)
        self.fc1 = nn.Linear(64 * 8 * 8, 256)
        self.fc2 = nn.Linear(256, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


class LitClassifier:
    """The hooks a LightningModule defines; the trainer calls them."""

    def __init__(self, num_classes=10, lr=1e-3, weight_decay=5e-4, label_smoothing=0.1):
        self.model = ConvNet(num_classes)
        self.num_classes = num_classes
        self.lr = lr
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.validation_step_outputs = []

    def forward(self, x):
        return self.model(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        acc = (logits.argmax(dim=1) == y).float().mean()
        self.log("train_loss", loss, prog_bar=True)
        self.log("train_acc", acc)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y, reduction="sum")
        preds = torch.argmax(logits, dim=1)
        self.validation_step_outputs.append({"loss": loss, "correct": (preds == y).sum(), "n": y.numel()})

    def on_validation_epoch_end(self):
        outputs = self.validation_step_outputs
        total = sum(o["n"] for o in outputs)
        val_loss = torch.stack([o["loss"] for o in outputs]).sum() / total
        val_acc = torch.stack([o["correct"] for o in outputs]).sum().float() / total
        self.log("val_loss", val_loss)
        self.log("val_acc", val_acc)
        self.validation_step_outputs.clear()

    def configure_optimizers(self):
        optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr, momentum=0.9, weight_decay=self.weight_decay)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=self.lr * 10, total_steps=10_000)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def log(self, name, value, prog_bar=False):
        print(name, float(value))


def manual_optimization_step(module, batch, optimizer, accumulate=4, batch_idx=0):
    x, y = batch
    loss = F.cross_entropy(module(x), y)
    loss = loss / accumulate
    module.manual_backward(loss)
    if (batch_idx + 1) % accumulate == 0:
        optimizer.step()
        optimizer.zero_grad()
    return loss.detach() * accumulate
