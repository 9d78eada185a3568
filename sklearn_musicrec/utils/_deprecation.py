"""Renamed or moved parameters: one way to accept the old form with a ``FutureWarning``."""

import warnings

__all__ = ["DEPRECATED", "deprecated_fit_argument", "deprecated_rename"]

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


def deprecated_fit_argument(name, fit_value, param_value, *, whom, stacklevel=4):
    """The value of a ``fit`` argument that became a constructor parameter of the same name.

    Parameters
    ----------
    name : str
        The argument's name (in ``fit`` and in the constructor).
    fit_value : object
        The value passed to ``fit`` (``DEPRECATED`` when not passed).
    param_value : object
        The constructor parameter's value (``None``: not set).
    whom : str
        The ``fit`` method, e.g. ``"DeepCFRecommender.fit"``, for the message.
    stacklevel : int, default=4
        Of the warning: this helper, ``fit``, scikit-learn's ``_fit_context``
        wrapper, then the caller's line.

    Returns
    -------
    value : object
        ``param_value``, or ``fit_value`` (with a ``FutureWarning``) when
        only ``fit`` got one.

    Raises
    ------
    TypeError
        When both were given.
    """
    if isinstance(fit_value, str) and fit_value == DEPRECATED:
        return param_value
    if param_value is not None:
        raise TypeError(
            f"{whom}: {name} was given both to the constructor and to fit; pass it "
            "only to the constructor."
        )
    estimator = whom.rsplit(".", 1)[0]
    warnings.warn(
        f"Passing {name} to {whom} is deprecated since 0.1 and will be removed in 0.3; "
        f"pass it to the constructor instead: {estimator}({name}=...).",
        FutureWarning,
        stacklevel=stacklevel,
    )
    return fit_value
