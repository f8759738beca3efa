"""An image-classification training script in the style of timm's and fairseq's loops: meters,
mixed precision with a GradScaler, top-k accuracy (written for the corpus benchmark)."""

import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class AverageMeter:
    """Computes and stores the average and current value."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.val = 0
        self.avg = 0
        self.sum = 0
        self.count = 0

    def update(self, val, n=1):
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / self.count


def accuracy(output, target, topk=(1,)):
    maxk = min(max(topk), output.size()[1])
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    pred = pred.t()
    correct = pred.eq(target.reshape(1, -1).expand_as(pred))
    return [correct[: min(k, maxk)].reshape(-1).float().sum(0) * 100.0 / batch_size for k in topk]


class SoftTargetCrossEntropy(nn.Module):
    def forward(self, x, target):
        loss = torch.sum(-target * F.log_softmax(x, dim=-1), dim=-1)
        return loss.mean()


def train_one_epoch(epoch, model, loader, optimizer, loss_fn, scaler, device, clip_grad=None, accum_steps=1):
    batch_time_m = AverageMeter()
    losses_m = AverageMeter()
    model.train()
    end = time.time()
    optimizer.zero_grad()
    for batch_idx, (input, target) in enumerate(loader):
        input, target = input.to(device), target.to(device)
        with torch.autocast(device_type=device.type, dtype=torch.float16):
            output = model(input)
            loss = loss_fn(output, target)
        losses_m.update(loss.item(), input.size(0))
        scaler.scale(loss / accum_steps).backward()
        if (batch_idx + 1) % accum_steps == 0:
            if clip_grad is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad()
        batch_time_m.update(time.time() - end)
        end = time.time()
        if batch_idx % 50 == 0:
            print(f"Train: {epoch} [{batch_idx}/{len(loader)}] Loss: {losses_m.val:.4f} ({losses_m.avg:.4f})")
    return {"loss": losses_m.avg}


def validate(model, loader, device):
    losses_m = AverageMeter()
    top1_m = AverageMeter()
    top5_m = AverageMeter()
    criterion = nn.CrossEntropyLoss()
    model.eval()
    with torch.no_grad():
        for input, target in loader:
            input, target = input.to(device), target.to(device)
            output = model(input)
            loss = criterion(output, target)
            acc1, acc5 = accuracy(output, target, topk=(1, 5))
            losses_m.update(loss.item(), input.size(0))
            top1_m.update(acc1.item(), output.size(0))
            top5_m.update(acc5.item(), output.size(0))
    return {"loss": losses_m.avg, "top1": top1_m.avg, "top5": top5_m.avg}


def evaluate_sum(model, loader, device):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.cross_entropy(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(loader.dataset)
    return test_loss, 100.0 * correct / len(loader.dataset)


def binary_metrics(logits, labels, threshold=0.5, eps=1e-8):
    probs = torch.sigmoid(logits)
    preds = probs >= threshold
    tp = (preds & (labels == 1)).sum().float()
    fp = (preds & (labels == 0)).sum().float()
    fn = (~preds & (labels == 1)).sum().float()
    precision = tp / (tp + fp).clamp(min=1)
    recall = tp / (tp + fn).clamp(min=1)
    f1 = 2 * precision * recall / (precision + recall + eps)
    return precision.item(), recall.item(), f1.item()


def split_dataset(features, labels, val_fraction=0.1, seed=0):
    generator = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(features), generator=generator)
    n_val = int(len(features) * val_fraction)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    mean = features[train_idx].mean(dim=0)
    std = features[train_idx].std(dim=0).clamp(min=1e-6)
    features = (features - mean) / std
    return (features[train_idx], labels[train_idx]), (features[val_idx], labels[val_idx])
