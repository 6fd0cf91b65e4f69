from __future__ import annotations

from django import forms

from ..conf import library_settings


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        required=True,
        label="Name",
        help_text="Where you will use it, e.g. 'laptop' or 'cluster login node'.",
    )
    expires_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=36500,
        label="Expires after (days)",
        help_text="Leave empty for a token that does not expire.",
    )

    def clean_expires_days(self) -> int | None:
        value = self.cleaned_data.get("expires_days")
        limit = library_settings.TOKEN_MAX_EXPIRY_DAYS
        if limit:
            if value is None:
                return int(limit)
            if value > limit:
                raise forms.ValidationError(f"Tokens on this site expire after at most {limit} days.")
        return value
