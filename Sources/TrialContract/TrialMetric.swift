/// The names of the metrics a trial reports, spelled once: the trial process writes them
/// (Training) and reports, status, the claims and the dashboard read them, so a rename here moves
/// both sides at once.
///
/// Final metrics describe the model the trial reports (its best FT epoch); per-epoch ones stream
/// with an epoch (`ft/loss`, `val/accuracy`, `lp/loss`, `lp/head_norm`).
public enum TrialMetric {
    // MARK: Evaluated splits

    /// What a trial measures on each evaluated split: `test/<measure>`, `validation/<measure>`
    /// and `ood/<task>/<measure>`; the `@T` measures are after temperature scaling.
    public enum Measure: String, Sendable, CaseIterable {
        case accuracy, ece, mce, nll, brier, macroF1 = "macro_f1", auroc
        case eceScaled = "ece@T", mceScaled = "mce@T", nllScaled = "nll@T"
    }

    public static func test(_ measure: Measure) -> String { "\(PredictionSplit.test)/\(measure.rawValue)" }
    public static func validation(_ measure: Measure) -> String { "\(PredictionSplit.validation)/\(measure.rawValue)" }
    public static func ood(_ task: String, _ measure: Measure) -> String { "\(PredictionSplit.ood(task))/\(measure.rawValue)" }
    /// `measure` on every OOD task, as a report's metric pattern (`*` matches one path step).
    public static func anyOOD(_ measure: Measure) -> String { ood("*", measure) }

    public static let testAccuracy = test(.accuracy)
    /// Accuracy on the validation split at the epoch the trial reports: what selection reads.
    public static let validationAccuracy = validation(.accuracy)
    /// The share of the validation split's most frequent class: the accuracy of always guessing it.
    public static let validationChance = "validation/chance"
    /// The fitted (or fixed) temperature.
    public static let temperature = "temperature"

    // MARK: Linear probing

    /// Per LP epoch (SGD head): mean training loss and the head's norm.
    public static let lpLoss = "lp/loss"
    public static let lpHeadNorm = "lp/head_norm"
    /// The logistic head's C, chosen by 5-fold cross-validation.
    public static let lpInverseRegularization = "lp/inverse_regularization"
    /// The LP head's validation accuracy before fine-tuning.
    public static let lpValidationAccuracy = "lp/val_accuracy"

    // MARK: Fine-tuning

    /// Per FT epoch: mean training loss and validation accuracy.
    public static let ftLoss = "ft/loss"
    public static let epochValidationAccuracy = "val/accuracy"
    /// Mean training loss of the first and of the last FT epoch.
    public static let firstLoss = "ft/first_loss"
    public static let lastLoss = "ft/last_loss"
    /// The FT epoch whose parameters the trial reports, and its validation accuracy.
    public static let bestEpoch = "ft/best_epoch"
    public static let bestValidationAccuracy = "val/accuracy_best"
    /// The epoch after which patience stopped fine-tuning (reported only when it did).
    public static let stoppedAfterEpoch = "ft/stopped_after_epoch"
    /// A marker in `metrics.jsonl`: the epochs after it continue from a checkpoint.
    public static let resumedAfterEpoch = "trial/resumed_after_epoch"

    // MARK: Head, features, NTK

    /// Classifier-head norms: at initialisation, after LP, at the end.
    public static let headNormInit = "head/norm_init"
    public static let headNormAfterLP = "head/norm_after_lp"
    public static let headNormFinal = "head/norm_final"
    /// Diff(F): the mean over test examples of ‖f(x) − f₀(x)‖₂; CS(F), the features' mean
    /// pairwise cosine similarity; the Fisher discriminant ratio.
    public static let featureChange = "features/diff"
    public static let featureCosine = "features/cosine"
    public static let featureFisherRatio = "features/fdr"
    /// The NTK at the start of FT: Frobenius norms and ranks of P and F, the FT ratio, and the
    /// kernel classifier's accuracy.
    public static let ntkFrobeniusPretrain = "ntk/fro_pretrain"
    public static let ntkFrobeniusFT = "ntk/fro_ft"
    public static let ntkFTRatio = "ntk/ft_ratio"
    public static let ntkRankPretrain = "ntk/rank_pretrain"
    public static let ntkRankFT = "ntk/rank_ft"
    public static let ntkRankTotal = "ntk/rank_total"
    public static let ntkAccuracyTrain = "ntk/accuracy_train"
    public static let ntkAccuracyEval = "ntk/accuracy_eval"

    /// Which side of a metric is the better one.
    public enum Better: Sendable { case higher, lower }

    /// The better side of `metric`, read from its last path step: higher for accuracies, macro
    /// F1 and AUROC, lower for calibration errors, NLL, Brier and losses; nil for measurements
    /// with no better side (Diff(F), the temperature, the NTK's norms, head norms).
    public static func better(_ metric: String) -> Better? {
        let step = metric.split(separator: "/").last.map(String.init) ?? metric
        if ["accuracy", "accuracy_best", "val_accuracy", Measure.macroF1.rawValue, Measure.auroc.rawValue].contains(step) { return .higher }
        if [Measure.ece, .eceScaled, .mce, .mceScaled, .nll, .nllScaled, .brier].map(\.rawValue).contains(step) || step.hasSuffix("loss") { return .lower }
        return nil
    }

    /// The range a fitted temperature is kept in (perfectly separated logits would drive it to 0,
    /// logits without signal to infinity): a fit at either end hit its bound.
    public static let temperatureBounds: ClosedRange<Double> = 1e-3...1e3
}
