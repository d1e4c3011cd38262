// Markings and personal data behind regex tricks.

rule VL101_regex_lookalikes
{
    strings:
        $a = /T[O0]P\s+S[E3]CR[E3]T/
    condition:
        $a
}

rule VL101_regex_dot
{
    strings:
        $a = /TOP.SECRET/
    condition:
        $a
}

rule VL101_regex_alternation
{
    strings:
        $a = /(TOP|T0P) (SECRET|SECR3T)/
    condition:
        $a
}

rule VL101_regex_hex_escapes
{
    strings:
        $a = /\x54\x4F\x50\x20\x53\x45\x43\x52\x45\x54/
    condition:
        $a
}

rule VL202_regex_visa
{
    strings:
        $a = /4[0-9]{12}([0-9]{3})?/
    condition:
        $a
}

rule VL201_regex_ssn_classes
{
    strings:
        $a = /[0-9]{3}[\-\s][0-9]{2}[\-\s][0-9]{4}/
    condition:
        $a
}

rule VL204_regex_mail
{
    strings:
        $a = /[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}/ nocase
    condition:
        #a > 5
}
