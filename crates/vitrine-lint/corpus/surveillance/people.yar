rule Hunt_SSN
{
    strings:
        $ssn = /[0-9]{3}-[0-9]{2}-[0-9]{4}/
    condition:
        #ssn > 5
}

rule Hunt_Cards
{
    strings:
        $visa = /4[0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}/
        $one = "4111 1111 1111 1111"
    condition:
        any of them
}

rule Hunt_IBAN
{
    strings:
        $iban = /[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}/
        $acct = "DE89370400440532013000"
    condition:
        any of them
}

rule Hunt_Email_Harvest
{
    strings:
        $mail = /[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,6}/ nocase
    condition:
        #mail > 20
}

rule Hunt_Phone
{
    strings:
        $tel = /\+?[0-9]{1,3}[ -]?\(?[0-9]{3}\)?[ -]?[0-9]{3}-[0-9]{4}/
    condition:
        $tel
}

rule Hunt_One_Journalist
{
    strings:
        $home = "C:\\Users\\jsmith\\Documents\\" wide ascii nocase
        $linux = "/home/alice/notes/" ascii
        $mail = "j.smith@newspaper.example" ascii wide
    condition:
        any of them
}

rule Hunt_Internal_Host
{
    strings:
        $dom = "fileserver01.ministry.internal" ascii wide nocase
        $host = "DESKTOP-7GH2K1L" ascii wide
        $user = "USERNAME=mkowalski" ascii wide
        $sn = "Serial Number: 5CG8231XYZ" ascii wide
    condition:
        any of them
}
