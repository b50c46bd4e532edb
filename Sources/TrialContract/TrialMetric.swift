/// Names of metrics that a trial reports and that reports, status and the dashboard read: spelled
/// once here, so the writer and its readers cannot drift apart.
public enum TrialMetric {
    /// Accuracy on the validation split at the epoch the trial reports: what selection reads.
    public static let validationAccuracy = "validation/accuracy"
    /// The share of the validation split's most frequent class: the accuracy of always guessing it.
    public static let validationChance = "validation/chance"
    /// The fitted (or fixed) temperature.
    public static let temperature = "temperature"
    /// Mean training loss of the first and of the last FT epoch.
    public static let firstLoss = "ft/first_loss"
    public static let lastLoss = "ft/last_loss"
    /// Classifier-head norms: at initialisation, after LP, at the end.
    public static let headNormInit = "head/norm_init"
    public static let headNormAfterLP = "head/norm_after_lp"
    public static let headNormFinal = "head/norm_final"

    /// The range a fitted temperature is kept in (perfectly separated logits would drive it to 0,
    /// logits without signal to infinity): a fit at either end hit its bound.
    public static let temperatureBounds: ClosedRange<Double> = 1e-3...1e3
}
