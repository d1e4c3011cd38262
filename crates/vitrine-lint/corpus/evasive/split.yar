// "TOP SECRET" cut into pieces the condition glues back together.

rule VL101_split_offset
{
    strings:
        $a = "TOP S"
        $b = "ECRET"
    condition:
        @b[1] == @a[1] + 5
}

rule VL101_split_offset_sub
{
    strings:
        $a = "TOP SE"
        $b = "CRET"
    condition:
        $a and $b and @b[1] - @a[1] == 6
}

rule VL101_split_at_relative
{
    strings:
        $a = "NATO "
        $b = "SECRET"
    condition:
        $b at @a + 5
}

rule VL101_split_at_zero
{
    strings:
        $a = "TOP "
        $b = "SECRET"
    condition:
        $a at 0 and $b at 4
}

rule VL101_split_three
{
    strings:
        $a = "TOP "
        $b = "SEC"
        $c = "RET"
    condition:
        @b[1] == @a[1] + 4 and @c[1] == @b[1] + 3
}

rule VL101_split_wide
{
    strings:
        $a = "TOP S" wide
        $b = "ECRET" wide
    condition:
        @b[1] == @a[1] + 10
}

rule VL101_for_of_split
{
    strings:
        $a = "STRENG "
        $b = "GEHEIM"
    condition:
        for all of ($a, $b) : ( # > 0 ) and @b[1] == @a[1] + 7
}

rule VL101_prefix_only
{
    strings:
        $a = "TOP SECR"
    condition:
        $a at 0
}
