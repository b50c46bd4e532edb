import TrialContract

/// Metrics of a classifier's decisions and rankings beside accuracy: macro-F1, which weighs
/// every class alike on an imbalanced task, and AUROC, which does not depend on a threshold
/// (nor on temperature). Both as scikit-learn defines them, so they compare with its figures.
public enum ClassificationMetrics {
    /// The unweighted mean of the per-class F1 over the classes that occur among the labels or
    /// the predictions (scikit-learn's `f1_score(average="macro")`; a class with no true or
    /// predicted example has F1 0).
    public static func macroF1(logits: [Float], labels: [Int], classes: Int) -> Double {
        let predicted = TrialPredictions.argmax(logits, classes: classes)
        var (truePositives, predictedCount, actualCount) = ([Int](repeating: 0, count: classes), [Int](repeating: 0, count: classes), [Int](repeating: 0, count: classes))
        for (p, y) in zip(predicted, labels) {
            predictedCount[p] += 1
            actualCount[y] += 1
            if p == y { truePositives[y] += 1 }
        }
        let present = (0..<classes).filter { predictedCount[$0] + actualCount[$0] > 0 }
        guard !present.isEmpty else { return 0 }
        let f1 = present.map { c in Double(2 * truePositives[c]) / Double(predictedCount[c] + actualCount[c]) }
        return f1.reduce(0, +) / Double(present.count)
    }

    /// The area under the ROC curve of a binary task, scoring each example by z₁ − z₀ (the
    /// log-odds of class 1, monotone in its probability at any temperature): the Mann–Whitney
    /// statistic with ties counted one half. NaN when only one class is present.
    public static func binaryAUROC(logits: [Float], labels: [Int]) -> Double {
        let scores = labels.indices.map { Double(logits[2 * $0 + 1]) - Double(logits[2 * $0]) }
        let positives = labels.filter { $0 == 1 }.count, negatives = labels.count - positives
        guard positives > 0, negatives > 0 else { return .nan }
        // Average ranks (1-based) over runs of equal scores.
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var rankSum = 0.0
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end where labels[order[k]] == 1 { rankSum += rank }
            start = end + 1
        }
        let p = Double(positives), n = Double(negatives)
        return (rankSum - p * (p + 1) / 2) / (p * n)
    }
}
