/// The settings a trial's canonical config leaves out while they hold their default, so that
/// trials planned before the setting existed keep their ids. Training writes configs by this
/// table; filters and comparisons fill the defaults back in, so `--against pooling=cls` finds
/// the trials that never wrote `pooling`. (Pruning groups and the CSV export read configs as
/// written: searches have journaled their groups so.)
public enum OmittedDefaults {
    /// Where φ(x) is read (`Pooling` in Transformer).
    public static let pooling = "cls"
    /// What picks FT's reported epoch (`TrialConfig.FT.Selection`).
    public static let ftSelectBy = "accuracy"

    /// By dotted config path.
    public static let byPath: [String: String] = ["pooling": pooling, "ft.select_by": ftSelectBy]
}
