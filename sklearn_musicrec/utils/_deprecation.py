"""Renamed parameters: one way to accept the old name with a ``FutureWarning``."""

import warnings

__all__ = ["DEPRECATED", "deprecated_rename"]

#: Default of a renamed parameter's old name: "not passed".
DEPRECATED = "deprecated"


def deprecated_rename(old_name, old_value, new_name, new_value, default, *, whom, stacklevel=4):
    """The value of a renamed parameter, warning (``FutureWarning``) if the old name was used.

    Parameters
    ----------
    old_name, new_name : str
        The parameter's old and new names.
    old_value : object
        The value passed under the old name (``DEPRECATED`` when not passed).
    new_value, default : object
        The value passed under the new name, and its default (passing both
        names is a ``TypeError``).
    whom : str
        The function, for the message.
    stacklevel : int, default=4
        Of the warning: this helper, the public function, scikit-learn's
        ``validate_params`` wrapper, then the caller's line.

    Returns
    -------
    value : object
        ``new_value``, or ``old_value`` when only the old name was used.
    """
    if isinstance(old_value, str) and old_value == DEPRECATED:
        return new_value
    passed_new = new_value is not default and (default is None or new_value != default)
    if passed_new:
        raise TypeError(f"{old_name} was renamed to {new_name}: pass only {new_name}, not both.")
    warnings.warn(
        f"The parameter {old_name!r} was renamed to {new_name!r} in 0.1 and will be "
        f"removed in 0.3 ({whom}); pass {new_name}={old_value!r} instead.",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return old_value
